// Tests for doctor's HTML report (diag/html.hpp): structure and escaping of the text, robustness
// against malformed reports, then the page as headless Chromium parses and renders it.
// Chromium is a test dependency (scripts/setup installs it); TTIG_NO_CHROMIUM=1 skips that part.
#include <ttig/diag/html.hpp>

#include <doctest/doctest.h>

#include "support/chromium.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

using namespace ttig;
using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view injected_script = "<script>alert(1)</script>";
constexpr std::string_view injected_img = "<img src=x onerror=alert(2)>";

// A report as doctor writes it (docs/doctor.md), seeded with hostile strings where a server or a
// user controls the text.
ojson sample_report() {
    return ojson::parse(fmt::format(R"({{
      "tool":"ttigctl doctor","version":"0.4","generated_at":"2026-11-30T17:00:00Z",
      "gateway":{{"input":"office-ttig \"'&","gateway_id":"office-ttig","eui":"58A0CBFFFE800123","cluster":"eu1.cloud.thethings.network"}},
      "verdict":{{"verdict":"lns-key-revoked","confidence":"high","score":10,
        "evidence":["keys.lns.missing (D): no key with ID ABC","event.disconnect.api_key_not_found (S): 2026-11-30T16:59:00Z"],
        "alternatives":[{{"cause":"record-manual-form","confidence":"low","score":2}}],
        "ruled_out":[{{"cause":"cups-key-revoked","reason":"no cups.401 seen"}}],
        "fix":[{{"action":"A1","text":"Create a new LNS key","automated":true}},
               {{"action":"M1","text":"Power-cycle the gateway","automated":false}}]}},
      "exit_code":10,"healthy":false,
      "probes":[
        {{"id":"P2","title":"Gateway record","target":"GET https://eu1.cloud.thethings.network/api/v3/gateways/office-ttig",
          "started_ms":1.5,"duration_ms":12.3,"outcome":"200","ok":true,"atoms":["record.found"],
          "exchange":["> GET /api/v3/gateways/office-ttig","< 200 OK {{\"ids\":{{}}}}"]}},
        {{"id":"P5","title":"LNS keys","target":"GET https://eu1.cloud.thethings.network/api/v3/gateways/office-ttig/api-keys",
          "started_ms":14.0,"duration_ms":30.25,"outcome":"200","ok":false,"atoms":["keys.lns.missing"],
          "exchange":["> GET /api/v3/gateways/office-ttig/api-keys","< 500 {{\"message\":\"</script>{0}\"}}"]}},
        {{"id":"P7","title":"Events {1}","started_ms":44.5,"duration_ms":60.0,"outcome":"3 events",
          "exchange":["< {1}"]}},
        {{"id":"P13","title":"LNS info","target":"wss://eu1.cloud.thethings.network:8887/router-info",
          "started_ms":105.0,"duration_ms":0.4,"outcome":"unauthorized","ok":false,"atoms":["lnsinfo.unauthorized"]}}],
      "atoms":[
        {{"id":"record.found","probe":"P2","detail":"created 2021-12-20"}},
        {{"id":"keys.lns.missing","probe":"P5","detail":"{0}"}},
        {{"id":"lnsinfo.unauthorized","probe":"P13","detail":"</script>"}},
        {{"id":"user.led.green_solid","probe":"user","detail":"LED solid green"}}],
      "events":[
        {{"time":"2026-11-30T16:59:00Z","name":"gs.gateway.disconnect","detail":"api key not found {1}"}},
        {{"time":"2026-11-30T16:58:00.5Z","name":"gs.gateway.connect","detail":"connected"}},
        {{"time":"2026-11-30T16:58:00Z","name":"registry.gateway.api-key.delete","detail":"key ABC"}}],
      "tls":[
        {{"target":"eu1.cloud.thethings.network:8887","version":"TLSv1.3","verify_ok":false,
          "error":"[tls.unknown_ca] {1}","handshake_ms":3.2,
          "chain":[{{"subject":"CN=eu1.cloud.thethings.network","issuer":"CN=Evil Intermediate G2","key_type":"EC P-256","not_after":"2027-03-01T00:00:00Z"}},
                   {{"subject":"CN=Evil Intermediate","issuer":"CN=Evil Root","key_type":"RSA 2048","not_after":"2026-01-01T00:00:00Z"}},
                   {{"subject":"CN=Evil Root","issuer":"CN=Evil Root","key_type":"RSA 4096","not_after":"2035-01-01T00:00:00Z"}}]}},
        {{"target":"eu1.cloud.thethings.network:443","version":"TLSv1.3","verify_ok":true,"handshake_ms":2.1,
          "chain":[{{"subject":"CN=eu1.cloud.thethings.network","issuer":"CN=R3","key_type":"RSA 2048","not_after":"2027-02-01T00:00:00Z"}},
                   {{"subject":"CN=R3","issuer":"CN=ISRG Root X1","key_type":"RSA 2048","not_after":"2027-09-15T16:00:00Z"}}]}}],
      "api_calls":6,"elapsed_ms":123.4,"timeout_ms":15000,"side_effects":["P12 updated attribute cups-last-seen"]
    }})",
                                    // the injected strings need no JSON escaping
                                    injected_script, injected_img));
}

std::size_t count(std::string_view hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + needle.size())) ++n;
    return n;
}

// The text of <script type="application/json" id="report">…</script>, as written or as a DOM dump.
std::string embedded_json(std::string_view html) {
    constexpr std::string_view open = "<script type=\"application/json\" id=\"report\">";
    auto start = html.find(open);
    if (start == std::string_view::npos) return {};
    start += open.size();
    auto end = html.find("</script>", start);
    if (end == std::string_view::npos) return {};
    return std::string(html.substr(start, end - start));
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct temp_dir {
    fs::path path = fs::temp_directory_path() / fmt::format("ttig-html-{:08x}", std::random_device{}());
    temp_dir() { fs::create_directories(path); }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

using test::find_chromium;
using test::run_chromium;
using test::shell_quote;

std::string tail(const std::string& s, std::size_t n = 2000) { return s.size() > n ? s.substr(s.size() - n) : s; }

}  // namespace

TEST_CASE("html: report page structure and escaping") {
    const ojson report = sample_report();
    const std::string html = diag::render_html(report);

    CHECK(html.starts_with("<!DOCTYPE html>"));
    CHECK(html.ends_with("</html>\n"));
    CHECK(html.find("<span class=\"verdict-id\">lns-key-revoked</span>") != std::string::npos);
    CHECK(html.find("high confidence") != std::string::npos);
    CHECK(html.find("score 10") != std::string::npos);
    CHECK(html.find("2026-11-30T17:00:00Z") != std::string::npos);
    CHECK(html.find("58A0CBFFFE800123") != std::string::npos);
    CHECK(html.find("office-ttig &quot;&#39;&amp;") != std::string::npos);
    CHECK(html.find("no cups.401 seen") != std::string::npos);
    CHECK(html.find("record-manual-form") != std::string::npos);
    CHECK(count(html, "<span class=\"tag automated\">automated</span>") == 1);
    CHECK(count(html, "<span class=\"tag needs-you\">needs you</span>") == 1);
    CHECK(html.find("P12 updated attribute cups-last-seen") != std::string::npos);

    SUBCASE("every probe: a section, a timeline bar, its raw exchange") {
        for (const char* id : {"P2", "P5", "P7", "P13"})
            CHECK_MESSAGE(html.find(fmt::format("<code>{}</code>", id)) != std::string::npos, id);
        CHECK(count(html, "<div class=\"probe") == 4);
        CHECK(count(html, "class=\"tl-bar") == 4);
        CHECK(count(html, "<details>") == 3);  // P13 has no exchange
        CHECK(html.find("<rect class=\"tl-bar fail\"") != std::string::npos);
        CHECK(html.find("<rect class=\"tl-bar ok\"") != std::string::npos);
        CHECK(html.find("<a href=\"#p3\"><code>P13</code></a>") != std::string::npos);  // atom -> probe link
        CHECK(count(html, "<tr class=\"atom\">") == 4);
    }
    SUBCASE("TLS chains: one box per certificate, verify result, expiry, issuer links") {
        CHECK(count(html, "class=\"tls-cert ") == 5);
        CHECK(count(html, "class=\"tls-cert leaf") == 2);
        CHECK(count(html, "class=\"tls-cert intermediate") == 2);
        CHECK(count(html, "class=\"tls-cert root") == 1);
        // The intermediate ran out in 2026-01, before the report was generated.
        CHECK(count(html, "class=\"tls-cert intermediate expired\"") == 1);
        CHECK(count(html, "&#183; expired") == 1);
        CHECK(count(html, "tls-target verify-failed") == 1);
        CHECK(count(html, "tls-target verify-passed") == 1);
        CHECK(count(html, "tls-arrow mismatch") == 1);  // the leaf names G2, the server sent another intermediate
    }
    SUBCASE("events by time, fractions included") {
        auto del = html.find("registry.gateway.api-key.delete");
        auto conn = html.find("gs.gateway.connect");
        auto disc = html.find("gs.gateway.disconnect");
        REQUIRE(del != std::string::npos);
        CHECK(del < conn);
        CHECK(conn < disc);
    }
    SUBCASE("untrusted strings are text, never markup") {
        CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
        CHECK(html.find("&lt;/script&gt;") != std::string::npos);
        CHECK(html.find("&lt;img src=x onerror=alert(2)&gt;") != std::string::npos);
        CHECK(html.find("<script>alert") == std::string::npos);
        CHECK(html.find("<img") == std::string::npos);
        CHECK(count(html, "<script") == 2);    // the JSON block and the inline print helper
        CHECK(count(html, "</script>") == 2);  // data closed none early
        // Self-contained: nothing to fetch. Data cannot forge these, its quotes are escaped.
        CHECK(html.find("src=\"") == std::string::npos);
        CHECK(html.find("href=\"http") == std::string::npos);
        CHECK(html.find("url(") == std::string::npos);
        CHECK(html.find("@import") == std::string::npos);
        CHECK(html.find("default-src 'none'") != std::string::npos);
    }
    SUBCASE("the embedded JSON is the report, and cannot close its element") {
        std::string block = embedded_json(html);
        CHECK(block.find('<') == std::string::npos);
        CHECK(block.find("\\u003c/script\\u003e") != std::string::npos);
        CHECK(ojson::parse(block) == report);
    }
}

TEST_CASE("html: malformed reports render without throwing") {
    auto renders = [](const ojson& r) {
        std::string html;
        REQUIRE_NOTHROW(html = diag::render_html(r));
        CHECK(html.ends_with("</html>\n"));
        return html;
    };
    renders(nullptr);
    renders(ojson::array({1, 2}));
    renders(ojson::object());
    std::string empty = renders(ojson::object());
    CHECK(empty.find("This report carries no verdict.") != std::string::npos);
    CHECK(empty.find("No probes in this report.") != std::string::npos);

    // Every field of the wrong type.
    std::string wrong = renders(ojson::parse(R"({
      "tool":1,"version":[],"generated_at":{},"gateway":"office","verdict":{"verdict":7,"evidence":"x","fix":[1,{"text":5}]},
      "exit_code":"10","healthy":"no","probes":[1,"P2",null,{"id":5,"title":["x"],"started_ms":"1","duration_ms":null,"ok":"yes",
      "atoms":"record.found","exchange":[1,"< ok",null]}],"atoms":{"id":"x"},"events":[{"time":5,"name":null},"e"],
      "tls":[{"target":3,"verify_ok":"false","chain":"none"},{"chain":[1,{"subject":{}}]}],"api_calls":"six","side_effects":"none"})"));
    CHECK(count(wrong, "class=\"tl-bar") == 0);  // the only probe object has no usable timing
    CHECK(wrong.find("not timed") != std::string::npos);
    CHECK(wrong.find("&lt; ok") != std::string::npos);
    CHECK(count(wrong, "class=\"tls-cert ") == 1);

    // Values only code can build: NaN and infinity, invalid UTF-8, control characters.
    ojson odd = ojson::object();
    odd["elapsed_ms"] = std::numeric_limits<double>::quiet_NaN();
    odd["probes"] = ojson::array({{{"id", "P1"}, {"started_ms", std::numeric_limits<double>::infinity()}, {"duration_ms", -5.0}},
                                  {{"id", "P2"}, {"started_ms", 1e308}, {"duration_ms", 1e308}}});
    odd["atoms"] = ojson::array({{{"id", "a"}, {"detail", std::string("\x01" "bad\xff\xc3(") + std::string(1, '\0') + "end"}}});
    std::string html = renders(odd);
    CHECK(html.find("\u2401bad\uFFFD\uFFFD(\u2400end") != std::string::npos);
    CHECK(count(html, "class=\"tl-bar") == 2);
    CHECK(html.find("nan") == std::string::npos);
    CHECK(html.find("inf ") == std::string::npos);
}

TEST_CASE("html: report page rendered in headless Chromium") {
    if (const char* no = std::getenv("TTIG_NO_CHROMIUM"); no && std::string_view(no) == "1") {
        MESSAGE("TTIG_NO_CHROMIUM=1: skipping the headless Chromium check of the HTML report");
        return;
    }
    auto chromium = find_chromium();
    REQUIRE_MESSAGE(chromium.has_value(),
                    "chromium not found (neither `chromium` on PATH nor /usr/bin/chromium): `bash scripts/setup` installs it; "
                    "set TTIG_NO_CHROMIUM=1 to skip this check on a developer machine");

    const ojson report = sample_report();
    temp_dir dir;
    const fs::path page = dir.path / "report.html";
    std::ofstream(page, std::ios::binary) << diag::render_html(report);

    SUBCASE("DOM as Chromium parsed it") {
        int rc = run_chromium(*chromium, dir.path, page, "--dump-dom", "dom");
        std::string dom = slurp(dir.path / "dom.out");
        REQUIRE_MESSAGE(rc == 0, "chromium --dump-dom failed: ", tail(slurp(dir.path / "dom.err")));
        REQUIRE_MESSAGE(dom.find("</html>") != std::string::npos, "no DOM from chromium: ", tail(slurp(dir.path / "dom.err")));

        CHECK(dom.find("<span class=\"verdict-id\">lns-key-revoked</span>") != std::string::npos);
        CHECK(count(dom, "class=\"tls-cert ") == 5);
        CHECK(count(dom, "<rect class=\"tl-bar") == 4);
        CHECK(count(dom, "<div class=\"probe") == 4);
        CHECK(count(dom, "<details>") == 3);
        // Injected markup stayed text: no <img> element at all (the page has none of its own), and
        // exactly the page's two <script> elements.
        CHECK(count(dom, "<img") == 0);
        CHECK(dom.find("&lt;img src=x onerror=alert(2)&gt;") != std::string::npos);
        CHECK(dom.find("<script>alert") == std::string::npos);
        CHECK(count(dom, "<script") == 2);
        // The inline helper ran, so the CSP hash matches the script text.
        CHECK(dom.find("data-js=\"on\"") != std::string::npos);
        // The embedded report survives the HTML parser intact.
        std::string block = embedded_json(dom);
        REQUIRE_FALSE(block.empty());
        CHECK(ojson::parse(block) == report);
    }
    SUBCASE("screenshot") {
        const fs::path png = dir.path / "report.png";
        int rc = run_chromium(*chromium, dir.path, page, fmt::format("--screenshot={} --window-size=1200,2000", shell_quote(png)), "shot");
        REQUIRE_MESSAGE(rc == 0, "chromium --screenshot failed: ", tail(slurp(dir.path / "shot.err")));
        REQUIRE_MESSAGE(fs::exists(png), "no screenshot written: ", tail(slurp(dir.path / "shot.err")));
        CHECK(fs::file_size(png) > 10 * 1024);
        CHECK(slurp(png).starts_with("\x89PNG\r\n\x1a\n"));
    }
}
