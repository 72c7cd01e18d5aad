// doctor's report as one self-contained HTML5 page, the file a user attaches to a support ticket.
//
//   std::ofstream("doctor.html") << diag::render_html(report);  // report: doctor's JSON (docs/doctor.md)
//
// The page holds everything inline (CSS, SVG, a few lines of script that only open the raw
// exchanges when printing) and fetches nothing: its Content-Security-Policy forbids any load. It
// reads the same without JS. Sections: header (gateway, generation time), verdict (cause,
// confidence, evidence, alternatives, ruled-out look-alikes, fix steps), run summary and side
// effects, a timeline of probes (SVG bars on a common ms axis), the gateway's events by time, one
// TLS chain diagram per target, every evidence atom, and per probe its raw exchange in <details>.
// The full report is embedded as <script type="application/json" id="report"> with '<', '>' and
// '&' written as \u escapes, so data cannot close the element.
//
// Every string of the report is untrusted (server error texts, gateway names) and HTML-escaped;
// invalid UTF-8 becomes U+FFFD and control characters their visible U+2400 pictures. Redaction is
// the caller's job. Every field is optional: a missing or wrongly typed field is left out, never
// an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ttig::diag {

std::string render_html(const nlohmann::ordered_json& report);

}  // namespace ttig::diag
