#include <ttig/diag/html.hpp>
#include <ttig/diag/verdict.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

namespace ttig::diag {

namespace {

using ojson = nlohmann::ordered_json;

// ---- reading: every field optional, a wrong type reads as absent --------------------------------

const ojson* get(const ojson* j, std::string_view key) {
    if (!j || !j->is_object()) return nullptr;
    auto it = j->find(std::string(key));
    return it == j->end() ? nullptr : &*it;
}

std::optional<std::string_view> str(const ojson* j, std::string_view key) {
    const ojson* v = get(j, key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string_view(v->get_ref<const std::string&>());
}

std::string_view str_or(const ojson* j, std::string_view key, std::string_view fallback = {}) {
    return str(j, key).value_or(fallback);
}

// Finite numbers only: a NaN built in code would otherwise poison the timeline's scale.
std::optional<double> num(const ojson* j, std::string_view key) {
    const ojson* v = get(j, key);
    if (!v || !v->is_number()) return std::nullopt;
    double d = v->get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    return d;
}

std::optional<bool> flag(const ojson* j, std::string_view key) {
    const ojson* v = get(j, key);
    if (!v || !v->is_boolean()) return std::nullopt;
    return v->get<bool>();
}

const ojson* list(const ojson* j, std::string_view key) {
    const ojson* v = get(j, key);
    return v && v->is_array() ? v : nullptr;
}

const ojson* object(const ojson* j, std::string_view key) {
    const ojson* v = get(j, key);
    return v && v->is_object() ? v : nullptr;
}

// Elements of an array that are objects / strings; anything else in the array is skipped.
std::vector<const ojson*> objects_of(const ojson* arr) {
    std::vector<const ojson*> out;
    if (!arr) return out;
    for (const auto& e : *arr)
        if (e.is_object()) out.push_back(&e);
    return out;
}

std::vector<std::string_view> strings_of(const ojson* arr) {
    std::vector<std::string_view> out;
    if (!arr) return out;
    for (const auto& e : *arr)
        if (e.is_string()) out.push_back(e.get_ref<const std::string&>());
    return out;
}

// ---- escaping -----------------------------------------------------------------------------------

void put_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// Length of the valid UTF-8 sequence at s[i] (0 when invalid: bad lead, truncated, overlong,
// surrogate or beyond U+10FFFF).
std::size_t utf8_len(std::string_view s, std::size_t i) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    char32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        auto cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

// Text and attribute content: the five HTML specials as entities, invalid UTF-8 as U+FFFD, C0
// controls (but tab and newline) and DEL as their U+2400 pictures so a stray NUL or ESC in a
// server answer is visible instead of silently altering the page.
void esc(std::string& out, std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            std::size_t n = utf8_len(s, i);
            if (n == 0) {
                put_utf8(out, 0xFFFD);
                ++i;
            } else {
                out.append(s.substr(i, n));
                i += n;
            }
            continue;
        }
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            case '\t':
            case '\n': out += static_cast<char>(c); break;
            default:
                if (c < 0x20) put_utf8(out, 0x2400 + c);
                else if (c == 0x7F) put_utf8(out, 0x2421);
                else out += static_cast<char>(c);
        }
        ++i;
    }
}

// At most `max` code points (cut on a lead byte, never inside a sequence), with an ellipsis.
std::string clip(std::string_view s, std::size_t max) {
    std::size_t count = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
        if (count++ == max) return std::string(s.substr(0, i)) + "\u2026";
    }
    return std::string(s);
}

// The report as JSON inside <script type="application/json">. '<', '>' and '&' can only occur
// inside JSON strings, where \u escapes mean the same characters: no "</script>" or "<!--" can
// reach the HTML tokenizer, and JSON.parse / any JSON parser reads back the identical report.
std::string embedded_json(const ojson& report) {
    std::string dumped = report.dump(-1, ' ', false, ojson::error_handler_t::replace);
    std::string out;
    out.reserve(dumped.size() + dumped.size() / 16);
    for (char c : dumped) {
        switch (c) {
            case '<': out += "\\u003c"; break;
            case '>': out += "\\u003e"; break;
            case '&': out += "\\u0026"; break;
            default: out += c;
        }
    }
    return out;
}

// ---- small formatting helpers -------------------------------------------------------------------

std::string ms(double v) {
    if (v >= 1000) return fmt::format("{:.2f} s", v / 1000);
    return v < 10 ? fmt::format("{:.2f} ms", v) : fmt::format("{:.1f} ms", v);
}

// "YYYY-MM-DDTHH:MM:SS..." (space or T); the only shape whose order is comparable as text.
bool iso_like(std::string_view t) {
    if (t.size() < 19) return false;
    for (std::size_t i = 0; i < 19; ++i) {
        char c = t[i];
        bool ok = false;
        switch (i) {
            case 4: case 7: ok = c == '-'; break;
            case 10: ok = c == 'T' || c == ' '; break;
            case 13: case 16: ok = c == ':'; break;
            default: ok = c >= '0' && c <= '9';
        }
        if (!ok) return false;
    }
    return true;
}

// Sort key for event times: seconds plus the fraction padded to 9 digits, because as plain text
// "…:00.5Z" sorts before "…:00Z". Times not in ISO shape keep their text and sort after.
std::string time_key(std::string_view t) {
    if (!iso_like(t)) return "~" + std::string(t);
    std::string key(t.substr(0, 19));
    key[10] = 'T';
    std::string frac;
    if (t.size() > 19 && t[19] == '.')
        for (std::size_t i = 20; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) frac += t[i];
    frac.resize(9, '0');
    return key + frac;
}

std::string_view confidence_class(std::string_view c) {
    if (c == "high" || c == "medium" || c == "low") return c;
    return "unknown";
}

// Anchor of each probe id ("p0", "p1", … by first appearance), so atoms and timeline rows link to
// the probe without putting report text into an id attribute.
using anchors = std::map<std::string, std::string, std::less<>>;

void probe_ref(std::string& out, const anchors& a, std::string_view probe) {
    auto it = a.find(probe);
    if (it == a.end()) {
        out += "<code>";
        esc(out, probe);
        out += "</code>";
        return;
    }
    fmt::format_to(std::back_inserter(out), "<a href=\"#{}\"><code>", it->second);
    esc(out, probe);
    out += "</code></a>";
}

// ---- page ---------------------------------------------------------------------------------------

constexpr std::string_view css = R"(
:root{--ok:#1a7f37;--ok-bg:#e6f4ea;--bad:#c62828;--bad-bg:#fdecea;--warn:#9a6700;--warn-bg:#fff8e1;
--muted:#5f6368;--line:#d0d7de;--panel:#f6f8fa;--ink:#1f2328}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:#fff}
main{max-width:1160px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:16px 0 6px}
code,pre,.mono{font-family:"DejaVu Sans Mono",ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
code{overflow-wrap:anywhere}
.muted{color:var(--muted)}
header.top{border-bottom:3px solid var(--ink);padding-bottom:10px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid transparent;
white-space:nowrap}
.b-ok{background:var(--ok-bg);color:var(--ok);border-color:var(--ok)}
.b-bad{background:var(--bad-bg);color:var(--bad);border-color:var(--bad)}
.b-warn{background:var(--warn-bg);color:var(--warn);border-color:var(--warn)}
.b-muted{background:var(--panel);color:var(--muted);border-color:var(--line)}
.conf-high{background:var(--bad-bg);color:var(--bad);border-color:var(--bad)}
.conf-medium{background:var(--warn-bg);color:var(--warn);border-color:var(--warn)}
.conf-low,.conf-unknown{background:var(--panel);color:var(--muted);border-color:var(--line)}
section.verdict{border:2px solid var(--bad);border-radius:8px;padding:12px 16px;margin-top:16px;background:#fffafa}
section.verdict.healthy{border-color:var(--ok);background:#f7fcf8}
section.verdict h2{margin-top:0}
section.verdict.none{border-color:var(--line);background:var(--panel)}
.verdict-line{font-size:16px;margin:0 0 4px}
.verdict-id{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:20px;font-weight:700;overflow-wrap:anywhere}
.verdict-title{margin:0 0 8px}
ul.evidence{margin:4px 0 8px;padding-left:20px}
ul.evidence li{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:12.5px;overflow-wrap:anywhere}
ol.fix{margin:4px 0;padding-left:24px}ol.fix li{margin:4px 0}
.tag{display:inline-block;min-width:84px;text-align:center;padding:0 6px;border-radius:4px;font-size:12px;font-weight:600;margin-right:6px}
.tag.automated{background:#e8f0fe;color:#1a56c4;border:1px solid #1a56c4}
.tag.needs-you{background:var(--warn-bg);color:var(--warn);border:1px solid var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--panel);font-weight:600}
svg.timeline{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:6px;background:#fff}
svg.timeline text{font-family:"DejaVu Sans",sans-serif;font-size:12px;fill:var(--ink)}
svg.timeline .axis{stroke:#8c959f;stroke-width:1}svg.timeline .grid{stroke:#eaeef2;stroke-width:1}
svg.timeline .tick{fill:var(--muted);font-size:11px}
svg.timeline .tl-bar{fill:#8c959f}svg.timeline .tl-bar.ok{fill:#2da44e}svg.timeline .tl-bar.fail{fill:#cf222e}
svg.timeline .end{stroke:#57606a;stroke-dasharray:4 3}
svg.timeline a text{fill:#0b57d0}
.tls-target{border:1px solid var(--line);border-radius:8px;padding:8px 12px;margin:10px 0}
.tls-target.verify-failed{border:2px solid var(--bad)}.tls-target.verify-passed{border:2px solid var(--ok)}
.tls-error{background:var(--bad-bg);color:var(--bad);padding:4px 8px;border-radius:4px;margin:6px 0;
font-family:"DejaVu Sans Mono",monospace;font-size:12.5px;overflow-wrap:anywhere}
.tls-chain{display:flex;flex-wrap:wrap;align-items:center;gap:4px;margin:8px 0}
.tls-cert{border:1px solid #57606a;border-radius:6px;padding:6px 8px;width:250px;background:var(--panel);font-size:12px}
.tls-cert.leaf{border-left:5px solid #0b57d0}.tls-cert.intermediate{border-left:5px solid #8250df}
.tls-cert.root{border-left:5px solid #1a7f37}
.tls-cert.expired{background:var(--bad-bg);border-color:var(--bad)}
.tls-cert .role{font-weight:700;text-transform:uppercase;font-size:11px;letter-spacing:.04em;color:var(--muted)}
.tls-cert dl{display:grid;grid-template-columns:max-content 1fr;gap:0 6px;margin:2px 0 0}
.tls-cert dt{color:var(--muted)}.tls-cert dd{margin:0;overflow-wrap:anywhere;font-family:"DejaVu Sans Mono",monospace;font-size:11.5px}
.tls-arrow{display:flex;flex-direction:column;align-items:center;color:var(--muted);font-size:10px}
.tls-arrow.mismatch{color:var(--bad)}.tls-arrow svg{display:block}
.probe{border:1px solid var(--line);border-left:5px solid #8c959f;border-radius:6px;padding:6px 12px;margin:10px 0}
.probe.ok{border-left-color:#2da44e}.probe.fail{border-left-color:#cf222e}
.probe h3{margin:4px 0}
details{margin:6px 0}summary{cursor:pointer;color:#0b57d0}
pre.exchange{background:#0d1117;color:#e6edf3;padding:8px 10px;border-radius:6px;overflow-x:auto;white-space:pre-wrap;
overflow-wrap:anywhere;margin:4px 0}
pre.exchange .out{color:#79c0ff}pre.exchange .in{color:#7ee787}
.side-effects{background:var(--warn-bg);border:1px solid var(--warn);border-radius:6px;padding:6px 12px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
@media print{main{max-width:none;padding:0}.probe,.tls-target,section.verdict{break-inside:avoid}}
)";

// Runs after load with JS on: marks the page and opens every raw exchange when printing. The
// CSP below allows exactly this text by its hash; keep the two in sync (the Chromium test checks
// that data-js="on" appears). New hash: printf '%s' 'SCRIPT' | openssl dgst -sha256 -binary | base64
constexpr std::string_view script =
    R"(document.documentElement.dataset.js="on";)"
    R"(addEventListener("beforeprint",function(){document.querySelectorAll("details").forEach(function(d){d.open=true})});)";
constexpr std::string_view script_hash = "sha256-qsF2I6lDGirPGMfZXrGVnD4neEKibnxx/4+VVD+EPh0=";

void header(std::string& out, const ojson* report) {
    const ojson* gw = object(report, "gateway");
    auto id = str(gw, "gateway_id");
    auto eui = str(gw, "eui");
    out += "<header class=\"top\"><h1>ttigctl doctor report";
    if (id || eui) {
        out += ": <span class=\"mono\">";
        esc(out, id ? *id : *eui);
        out += "</span>";
    }
    out += "</h1>";

    out += "<p>";
    if (auto healthy = flag(report, "healthy"))
        out += *healthy ? "<span class=\"badge b-ok\">healthy</span> " : "<span class=\"badge b-bad\">not healthy</span> ";
    if (auto code = num(report, "exit_code"))
        fmt::format_to(std::back_inserter(out), "<span class=\"badge b-muted\">exit code {:g}</span>", *code);
    out += "</p><dl class=\"kv\">";
    auto row = [&](std::string_view label, std::optional<std::string_view> v, bool mono = false) {
        if (!v) return;
        fmt::format_to(std::back_inserter(out), "<dt>{}</dt><dd{}>", label, mono ? " class=\"mono\"" : "");
        esc(out, *v);
        out += "</dd>";
    };
    row("Gateway ID", id, true);
    row("EUI", eui, true);
    row("Cluster", str(gw, "cluster"), true);
    row("Asked about", str(gw, "input"), true);
    row("Generated", str(report, "generated_at"));
    if (auto tool = str(report, "tool")) {
        std::string t(*tool);
        if (auto v = str(report, "version")) t += " " + std::string(*v);
        row("Tool", t);
    }
    out += "</dl></header>\n";
}

void verdict_box(std::string& out, const ojson* report) {
    const ojson* v = object(report, "verdict");
    auto cause = str(v, "verdict");
    std::string_view kind = !cause ? "none" : *cause == "healthy" ? "healthy" : "problem";
    fmt::format_to(std::back_inserter(out), "<section class=\"verdict {}\" id=\"verdict\"><h2>Verdict</h2>", kind);
    if (!cause) {
        out += "<p class=\"muted\">This report carries no verdict.</p></section>\n";
        return;
    }
    out += "<p class=\"verdict-line\"><span class=\"verdict-id\">";
    esc(out, *cause);
    out += "</span> ";
    if (auto c = str(v, "confidence")) {
        fmt::format_to(std::back_inserter(out), "<span class=\"badge conf-{}\">", confidence_class(*c));
        esc(out, *c);
        out += " confidence</span> ";
    }
    if (auto s = num(v, "score")) fmt::format_to(std::back_inserter(out), "<span class=\"badge b-muted\">score {:g}</span>", *s);
    out += "</p>";
    // The catalogue's one-line title, when this build knows the cause.
    if (const cause_info* info = find_cause(*cause); info && !info->title.empty()) {
        out += "<p class=\"verdict-title\">";
        esc(out, info->title);
        out += "</p>";
    }

    if (auto ev = strings_of(list(v, "evidence")); !ev.empty()) {
        out += "<h3>Evidence</h3><ul class=\"evidence\">";
        for (auto line : ev) {
            out += "<li>";
            esc(out, line);
            out += "</li>";
        }
        out += "</ul>";
    }

    if (auto fix = objects_of(list(v, "fix")); !fix.empty()) {
        out += "<h3>Fix</h3><ol class=\"fix\">";
        for (const ojson* f : fix) {
            // A step not marked automated is the user's: safer to ask than to imply doctor did it.
            bool automated = flag(f, "automated").value_or(false);
            out += automated ? "<li><span class=\"tag automated\">automated</span>" : "<li><span class=\"tag needs-you\">needs you</span>";
            if (auto a = str(f, "action")) {
                out += "<code>";
                esc(out, *a);
                out += "</code> ";
            }
            esc(out, str_or(f, "text"));
            out += "</li>";
        }
        out += "</ol>";
    }

    if (auto alts = objects_of(list(v, "alternatives")); !alts.empty()) {
        out += "<h3>Alternatives</h3><table class=\"alternatives\"><tr><th>cause</th><th>confidence</th><th>score</th></tr>";
        for (const ojson* a : alts) {
            out += "<tr><td><code>";
            esc(out, str_or(a, "cause"));
            out += "</code></td><td>";
            esc(out, str_or(a, "confidence"));
            out += "</td><td>";
            if (auto s = num(a, "score")) fmt::format_to(std::back_inserter(out), "{:g}", *s);
            out += "</td></tr>";
        }
        out += "</table>";
    }

    if (auto ruled = objects_of(list(v, "ruled_out")); !ruled.empty()) {
        out += "<h3>Ruled out</h3><table class=\"ruled-out\"><tr><th>look-alike</th><th>why not</th></tr>";
        for (const ojson* r : ruled) {
            out += "<tr><td><code>";
            esc(out, str_or(r, "cause"));
            out += "</code></td><td>";
            esc(out, str_or(r, "reason"));
            out += "</td></tr>";
        }
        out += "</table>";
    }
    out += "</section>\n";
}

void run_summary(std::string& out, const ojson* report) {
    auto calls = num(report, "api_calls");
    auto elapsed = num(report, "elapsed_ms");
    auto timeout = num(report, "timeout_ms");
    auto effects = strings_of(list(report, "side_effects"));
    if (!calls && !elapsed && !timeout && effects.empty()) return;
    out += "<section id=\"run\"><h2>Run</h2><dl class=\"kv\">";
    if (calls) fmt::format_to(std::back_inserter(out), "<dt>API calls</dt><dd>{:g}</dd>", *calls);
    if (elapsed) fmt::format_to(std::back_inserter(out), "<dt>Elapsed</dt><dd>{}</dd>", ms(*elapsed));
    if (timeout) fmt::format_to(std::back_inserter(out), "<dt>Timeout</dt><dd>{}</dd>", ms(*timeout));
    out += "</dl>";
    if (!effects.empty()) {
        out += "<div class=\"side-effects\"><strong>Changes doctor made on the server:</strong><ul>";
        for (auto e : effects) {
            out += "<li>";
            esc(out, e);
            out += "</li>";
        }
        out += "</ul></div>";
    }
    out += "</section>\n";
}

constexpr double max_ms = 1e12;

// 1, 2 or 5 times a power of ten, giving at most `max_ticks` intervals over `span`.
double nice_step(double span, int max_ticks) {
    double raw = span / max_ticks;
    double mag = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0})
        if (m * mag >= raw) return m * mag;
    return 10 * mag;
}

void timeline(std::string& out, const ojson* report, const std::vector<const ojson*>& probes, const anchors& a) {
    out += "<section id=\"timeline\"><h2>Timeline</h2>";
    if (probes.empty()) {
        out += "<p class=\"muted\">No probes in this report.</p></section>\n";
        return;
    }
    // Common axis: 0 to the last probe end (or the whole run, if longer), rounded up to a tick.
    // Times are clamped to [0, 1e12 ms] so absurd values cannot overflow the scale.
    auto clamped = [](std::optional<double> v) { return std::clamp(v.value_or(0), 0.0, max_ms); };
    double end = 0;
    for (const ojson* p : probes) end = std::max(end, clamped(num(p, "started_ms")) + clamped(num(p, "duration_ms")));
    auto elapsed = num(report, "elapsed_ms");
    if (elapsed) elapsed = clamped(elapsed);
    if (elapsed && *elapsed > 0) end = std::max(end, *elapsed);
    end = std::max(end, 0.01);  // an empty or instant run still gets a scale
    double step = nice_step(end, 8);
    double axis = std::ceil(end / step - 1e-9) * step;

    constexpr double label_w = 300, plot_x = 310, plot_w = 590, row_h = 22, top = 28, width = 1000;
    double height = top + row_h * static_cast<double>(probes.size()) + 12;
    auto x_of = [&](double t) { return plot_x + plot_w * t / axis; };

    fmt::format_to(std::back_inserter(out),
                   "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {:g} {:g}\" role=\"img\" "
                   "aria-label=\"Probe timeline\">",
                   width, height);
    // Grid and tick labels: seconds once the step reaches a second.
    for (int i = 0; i <= 10; ++i) {
        double t = step * i;
        if (t > axis + step * 1e-6) break;
        double x = x_of(t);
        std::string label = step >= 1000 ? fmt::format("{:g} s", t / 1000) : fmt::format("{:g} ms", t);
        fmt::format_to(std::back_inserter(out),
                       "<line class=\"grid\" x1=\"{0:.1f}\" y1=\"{1:g}\" x2=\"{0:.1f}\" y2=\"{2:g}\"/>"
                       "<text class=\"tick\" x=\"{0:.1f}\" y=\"{3:g}\" text-anchor=\"middle\">{4}</text>",
                       x, top - 6, height - 8, top - 10, label);
    }
    fmt::format_to(std::back_inserter(out), "<line class=\"axis\" x1=\"{0:g}\" y1=\"{1:g}\" x2=\"{2:g}\" y2=\"{1:g}\"/>", plot_x, top - 4,
                   plot_x + plot_w);
    if (elapsed && *elapsed > 0)
        fmt::format_to(std::back_inserter(out),
                       "<line class=\"end\" x1=\"{0:.1f}\" y1=\"{1:g}\" x2=\"{0:.1f}\" y2=\"{2:g}\"><title>run ended at {3}</title></line>",
                       x_of(*elapsed), top - 4, height - 8, ms(*elapsed));

    for (std::size_t i = 0; i < probes.size(); ++i) {
        const ojson* p = probes[i];
        double y = top + row_h * static_cast<double>(i);
        std::string id(str_or(p, "id"));
        std::string title(str_or(p, "title"));
        std::string label = clip(id.empty() ? title : title.empty() ? id : id + " " + title, 44);
        auto anchor = a.find(id);
        bool linked = !id.empty() && anchor != a.end();
        if (linked) fmt::format_to(std::back_inserter(out), "<a href=\"#{}\">", anchor->second);
        fmt::format_to(std::back_inserter(out), "<text x=\"{:g}\" y=\"{:g}\" text-anchor=\"end\">", label_w, y + 15);
        esc(out, label);
        out += "</text>";
        if (linked) out += "</a>";
        auto started = num(p, "started_ms");
        auto duration = num(p, "duration_ms");
        if (!started && !duration) {
            fmt::format_to(std::back_inserter(out), "<text class=\"tick\" x=\"{:g}\" y=\"{:g}\">not timed</text>", plot_x + 4, y + 15);
            continue;
        }
        double s = clamped(started);
        double d = clamped(duration);
        auto ok = flag(p, "ok");
        std::string_view cls = !ok ? "" : *ok ? " ok" : " fail";
        double x = x_of(s);
        double w = std::max(2.0, plot_w * d / axis);  // a 0.1 ms probe is still visible
        fmt::format_to(std::back_inserter(out),
                       "<rect class=\"tl-bar{}\" x=\"{:.1f}\" y=\"{:g}\" width=\"{:.1f}\" height=\"{:g}\" rx=\"2\"><title>", cls, x, y + 4,
                       w, row_h - 8);
        esc(out, label);
        fmt::format_to(std::back_inserter(out), ": starts at {}, takes {}", ms(s), ms(d));
        if (auto o = str(p, "outcome")) {
            out += ", outcome ";
            esc(out, *o);
        }
        out += "</title></rect>";
        // Duration beside the bar; inside the plot's right edge when the bar reaches it.
        double tx = x + w + 4;
        bool inside = tx > plot_x + plot_w - 60;
        fmt::format_to(std::back_inserter(out), "<text class=\"tick\" x=\"{:.1f}\" y=\"{:g}\"{}>{}</text>", inside ? x - 4 : tx, y + 15,
                       inside ? " text-anchor=\"end\"" : "", ms(d));
    }
    out += "</svg>";
    out += "<p class=\"muted\">Each bar: when a probe started and how long it took, from the start of the run. Green: as expected; red: "
           "the probe found a fault; grey: no judgement.</p></section>\n";
}

void events(std::string& out, const ojson* report) {
    auto evs = objects_of(list(report, "events"));
    if (evs.empty()) return;
    std::vector<std::pair<std::string, const ojson*>> sorted;
    for (const ojson* e : evs) {
        auto t = str(e, "time");
        sorted.emplace_back(t ? time_key(*t) : std::string("~~"), e);  // untimed last
    }
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& l, const auto& r) { return l.first < r.first; });
    out += "<section id=\"events\"><h2>Gateway events</h2><table class=\"events\"><tr><th>time</th><th>event</th><th>detail</th></tr>";
    for (const auto& [key, e] : sorted) {
        out += "<tr class=\"event\"><td class=\"mono\">";
        esc(out, str_or(e, "time"));
        out += "</td><td><code>";
        esc(out, str_or(e, "name"));
        out += "</code></td><td>";
        esc(out, str_or(e, "detail"));
        out += "</td></tr>";
    }
    out += "</table></section>\n";
}

constexpr std::string_view arrow_svg =
    "<svg width=\"44\" height=\"14\" viewBox=\"0 0 44 14\" aria-hidden=\"true\"><path d=\"M2 7H34\" stroke=\"currentColor\" "
    "stroke-width=\"2\"/><path d=\"M32 2L42 7L32 12z\" fill=\"currentColor\"/></svg>";

void tls(std::string& out, const ojson* report) {
    auto targets = objects_of(list(report, "tls"));
    if (targets.empty()) return;
    auto generated = str(report, "generated_at");
    out += "<section id=\"tls\"><h2>TLS</h2>";
    for (const ojson* t : targets) {
        auto verified = flag(t, "verify_ok");
        std::string_view cls = !verified ? "" : *verified ? " verify-passed" : " verify-failed";
        fmt::format_to(std::back_inserter(out), "<div class=\"tls-target{}\"><h3 class=\"mono\">", cls);
        esc(out, str_or(t, "target", "(no target)"));
        out += "</h3><p>";
        if (verified)
            out += *verified ? "<span class=\"badge b-ok verify\">chain verified</span> "
                             : "<span class=\"badge b-bad verify\">verification failed</span> ";
        if (auto v = str(t, "version")) {
            out += "<span class=\"badge b-muted\">";
            esc(out, *v);
            out += "</span> ";
        }
        if (auto h = num(t, "handshake_ms")) fmt::format_to(std::back_inserter(out), "<span class=\"muted\">handshake {}</span>", ms(*h));
        out += "</p>";
        if (auto e = str(t, "error"); e && !e->empty()) {
            out += "<div class=\"tls-error\">";
            esc(out, *e);
            out += "</div>";
        }
        auto chain = objects_of(list(t, "chain"));
        if (chain.empty()) {
            out += "<p class=\"muted\">No certificates received.</p></div>";
            continue;
        }
        out += "<div class=\"tls-chain\">";
        for (std::size_t i = 0; i < chain.size(); ++i) {
            const ojson* c = chain[i];
            auto subject = str(c, "subject");
            auto issuer = str(c, "issuer");
            if (i > 0) {
                // Each certificate should be issued by the next one: flag a break in the chain.
                auto prev_issuer = str(chain[i - 1], "issuer");
                bool mismatch = prev_issuer && subject && *prev_issuer != *subject;
                fmt::format_to(std::back_inserter(out), "<div class=\"tls-arrow{}\">{}<span>{}</span></div>", mismatch ? " mismatch" : "",
                               arrow_svg, mismatch ? "issuer &#8800; subject" : "issued by");
            }
            bool self_signed = subject && issuer && *subject == *issuer;
            std::string_view role = i == 0 ? (self_signed ? "leaf (self-signed)" : "leaf")
                                    : self_signed ? "root" : "intermediate";
            std::string_view role_cls = i == 0 ? "leaf" : self_signed ? "root" : "intermediate";
            auto not_after = str(c, "not_after");
            bool expired = not_after && generated && iso_like(*not_after) && iso_like(*generated) &&
                           time_key(*not_after) < time_key(*generated);
            fmt::format_to(std::back_inserter(out), "<div class=\"tls-cert {}{}\"><div class=\"role\">{}{}</div><dl>", role_cls,
                           expired ? " expired" : "", role, expired ? " &#183; expired" : "");
            auto row = [&](std::string_view label, std::optional<std::string_view> v) {
                fmt::format_to(std::back_inserter(out), "<dt>{}</dt><dd>", label);
                esc(out, v.value_or("?"));
                out += "</dd>";
            };
            row("subject", subject);
            row("issuer", issuer);
            row("key", str(c, "key_type"));
            row("not after", not_after);
            out += "</dl></div>";
        }
        out += "</div></div>";
    }
    out += "</section>\n";
}

void atoms_table(std::string& out, const ojson* report, const anchors& a) {
    auto atoms = objects_of(list(report, "atoms"));
    out += "<section id=\"atoms\"><h2>Evidence atoms</h2>";
    if (atoms.empty()) {
        out += "<p class=\"muted\">No evidence atoms in this report.</p></section>\n";
        return;
    }
    out += "<table class=\"atoms\"><tr><th>atom</th><th>probe</th><th>detail</th></tr>";
    for (const ojson* at : atoms) {
        out += "<tr class=\"atom\"><td><code>";
        esc(out, str_or(at, "id"));
        out += "</code></td><td>";
        probe_ref(out, a, str_or(at, "probe"));
        out += "</td><td>";
        esc(out, str_or(at, "detail"));
        out += "</td></tr>";
    }
    out += "</table></section>\n";
}

void probe_sections(std::string& out, const std::vector<const ojson*>& probes) {
    if (probes.empty()) return;
    out += "<section id=\"probes\"><h2>Probes</h2>";
    for (std::size_t i = 0; i < probes.size(); ++i) {
        const ojson* p = probes[i];
        auto ok = flag(p, "ok");
        fmt::format_to(std::back_inserter(out), "<div class=\"probe{}\" id=\"p{}\"><h3>", !ok ? "" : *ok ? " ok" : " fail", i);
        if (auto id = str(p, "id")) {
            out += "<code>";
            esc(out, *id);
            out += "</code> ";
        }
        esc(out, str_or(p, "title"));
        if (auto o = str(p, "outcome")) {
            fmt::format_to(std::back_inserter(out), " <span class=\"badge {}\">", !ok ? "b-muted" : *ok ? "b-ok" : "b-bad");
            esc(out, *o);
            out += "</span>";
        }
        out += "</h3><dl class=\"kv\">";
        if (auto t = str(p, "target")) {
            out += "<dt>target</dt><dd class=\"mono\">";
            esc(out, *t);
            out += "</dd>";
        }
        if (auto s = num(p, "started_ms")) fmt::format_to(std::back_inserter(out), "<dt>started</dt><dd>+{}</dd>", ms(*s));
        if (auto d = num(p, "duration_ms")) fmt::format_to(std::back_inserter(out), "<dt>took</dt><dd>{}</dd>", ms(*d));
        if (auto atoms = strings_of(list(p, "atoms")); !atoms.empty()) {
            out += "<dt>atoms</dt><dd>";
            for (std::size_t k = 0; k < atoms.size(); ++k) {
                out += k ? ", <code>" : "<code>";
                esc(out, atoms[k]);
                out += "</code>";
            }
            out += "</dd>";
        }
        out += "</dl>";
        if (auto lines = strings_of(list(p, "exchange")); !lines.empty()) {
            fmt::format_to(std::back_inserter(out), "<details><summary>Raw exchange ({} line{})</summary><pre class=\"exchange\">",
                           lines.size(), lines.size() == 1 ? "" : "s");
            for (auto line : lines) {
                // Direction colours: "> " sent by doctor, "< " received.
                std::string_view cls = line.starts_with('>') ? " class=\"out\"" : line.starts_with('<') ? " class=\"in\"" : "";
                fmt::format_to(std::back_inserter(out), "<span{}>", cls);
                esc(out, line);
                out += "</span>\n";
            }
            out += "</pre></details>";
        }
        out += "</div>";
    }
    out += "</section>\n";
}

}  // namespace

std::string render_html(const nlohmann::ordered_json& report_json) {
    const ojson* report = report_json.is_object() ? &report_json : nullptr;
    auto probes = objects_of(list(report, "probes"));
    anchors a;
    for (std::size_t i = 0; i < probes.size(); ++i)
        if (auto id = str(probes[i], "id")) a.emplace(std::string(*id), fmt::format("p{}", i));

    std::string out;
    out.reserve(32 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    // Nothing may load from anywhere: only the inline style and the one hashed inline script.
    fmt::format_to(std::back_inserter(out),
                   "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
                   "script-src '{}'; img-src data:; base-uri 'none'; form-action 'none'\">\n",
                   script_hash);
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>ttigctl doctor";
    const ojson* gw = object(report, "gateway");
    if (auto id = str(gw, "gateway_id").value_or(str_or(gw, "eui")); !id.empty()) {
        out += " \u2014 ";
        esc(out, id);
    }
    if (auto cause = str(object(report, "verdict"), "verdict")) {
        out += ": ";
        esc(out, *cause);
    }
    out += "</title>\n<style>";
    out += css;
    out += "</style>\n</head>\n<body><main>\n";

    header(out, report);
    verdict_box(out, report);
    run_summary(out, report);
    timeline(out, report, probes, a);
    events(out, report);
    tls(out, report);
    atoms_table(out, report, a);
    probe_sections(out, probes);

    out += "<footer>Made by ttigctl doctor, which redacts secrets before rendering. The complete report is embedded "
           "in this file as JSON (element <code>script#report</code>).</footer>\n</main>\n";
    out += "<script type=\"application/json\" id=\"report\">";
    out += embedded_json(report_json);
    out += "</script>\n<script>";
    out += script;
    out += "</script>\n</body></html>\n";
    return out;
}

}  // namespace ttig::diag
