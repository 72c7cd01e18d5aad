// fleet report: the numbers of the charts come from the journal and the status; the HTML is
// self-contained and renders in headless Chromium (TTIG_NO_CHROMIUM=1 skips that part).
#include <ttig/fleet/report.hpp>
#include <ttig/fleet/status.hpp>
#include <ttig/store/journal.hpp>

#include "support/run_cli.hpp"

#include <doctest/doctest.h>

#include "support/chromium.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>

using namespace ttig;
namespace fs = std::filesystem;

namespace {

store::journal_step step(std::string name, std::string status, std::string at, nlohmann::json detail = nlohmann::json::object()) {
    store::journal_step s;
    s.name = std::move(name);
    s.status = std::move(status);
    s.at = std::move(at);
    s.detail = std::move(detail);
    return s;
}

fleet::journal_entry op(std::int64_t id, std::string kind, std::string gw, std::string state, bool finished, std::string created, std::string updated,
                        std::vector<store::journal_step> steps, nlohmann::json doc = nlohmann::json::object()) {
    fleet::journal_entry e;
    e.op.id = id;
    e.op.kind = std::move(kind);
    e.op.subject = gw.empty() ? "run:1" : "gateway:" + gw;
    e.op.state = std::move(state);
    e.op.finished = finished;
    e.op.created_at = std::move(created);
    e.op.updated_at = std::move(updated);
    e.op.doc = std::move(doc);
    e.steps = std::move(steps);
    return e;
}

// Three gateways of one run: a proven rotation, a refused new key, one still waiting.
std::vector<fleet::journal_entry> sample_journal() {
    std::vector<fleet::journal_entry> v;
    v.push_back(op(1, "fleet-run", "", "done", true, "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", {}, {{"manifest", "fleet.csv"}}));
    v.push_back(op(2, "fleet", "gw-a", "done", true, "2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z",
                   {step("cups.create", "done", "2026-01-01T10:00:05Z"), step("cups.install", "done", "2026-01-01T10:00:10Z"),
                    step("check-in", "waiting", "2026-01-01T10:00:20Z"), step("lns.connected", "done", "2026-01-01T10:01:00Z")}));
    v.push_back(op(3, "fleet", "gw-b", "failed", true, "2026-01-01T10:00:00Z", "2026-01-01T10:00:30Z",
                   {step("cups.create", "done", "2026-01-01T10:00:02Z"),
                    step("cups.verify", "failed", "2026-01-01T10:00:30Z", {{"error_id", "rotate.new_key_rejected"}})}));
    v.push_back(op(4, "fleet", "gw-c", "pending-check-in", false, "2026-01-01T10:00:01Z", "2026-01-01T10:00:40Z",
                   {step("check-in", "waiting", "2026-01-01T10:00:40Z", {{"connected", false}})}));
    return v;
}

fleet::status_result sample_status() {
    fleet::status_result s;
    auto add = [&](std::string id, fleet::gateway_state st, std::string cause) {
        fleet::gateway_status g;
        g.gateway_id = std::move(id);
        g.state = st;
        g.cause = std::move(cause);
        ++s.counts[std::string(fleet::to_string(st))];
        if (!g.cause.empty()) ++s.causes[g.cause];
        s.gateways.push_back(std::move(g));
    };
    add("gw-a", fleet::gateway_state::connected, "");
    add("gw-c", fleet::gateway_state::disconnected, "lns-key-revoked");
    add("gw-d", fleet::gateway_state::no_stats, "cups-not-yet-contacted");
    s.calls.batches = 1;
    return s;
}

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
    return n;
}

using test::find_chromium;
using test::run_chromium;
using test::shell_quote;

std::string tail(const std::string& s, std::size_t n = 2000) { return s.size() > n ? s.substr(s.size() - n) : s; }

}  // namespace

TEST_SUITE("fleet report") {
    TEST_CASE("the report's numbers come from the journal and the status") {
        const auto ops = sample_journal();
        const auto st = sample_status();
        const auto r = fleet::build_report(ops, &st);
        REQUIRE(r.runs.size() == 1);
        REQUIRE(r.gateways.size() == 4);  // gw-a, gw-b, gw-c from the journal; gw-d only in the status
        CHECK(r.gateways[0].gateway_id == "gw-a");
        CHECK(r.gateways[0].connection == "connected");
        CHECK(r.gateways[1].connection == "disconnected");
        CHECK(r.gateways[1].cause == "rotate.new_key_rejected");
        CHECK(r.gateways[2].cause == "lns-key-revoked");  // from the status: the journal names none
        CHECK(r.gateways[3].status_state == "no-stats");
        CHECK(r.causes == std::map<std::string, std::size_t>{{"rotate.new_key_rejected", 1}, {"lns-key-revoked", 1}, {"cups-not-yet-contacted", 1}});

        // The timeline: 10:00:00 a,b started; :01 c; :20 a waiting; :30 b failed; :40 c waiting; 10:01:00 a connected.
        REQUIRE(r.timeline.size() == 6);
        auto pt = [&](std::size_t i) { return std::tuple{r.timeline[i].connected, r.timeline[i].disconnected, r.timeline[i].unknown}; };
        CHECK(pt(0) == std::tuple<std::size_t, std::size_t, std::size_t>{0, 0, 2});
        CHECK(pt(1) == std::tuple<std::size_t, std::size_t, std::size_t>{0, 0, 3});
        CHECK(pt(2) == std::tuple<std::size_t, std::size_t, std::size_t>{0, 1, 2});
        CHECK(pt(3) == std::tuple<std::size_t, std::size_t, std::size_t>{0, 2, 1});
        CHECK(pt(4) == std::tuple<std::size_t, std::size_t, std::size_t>{0, 3, 0});
        CHECK(pt(5) == std::tuple<std::size_t, std::size_t, std::size_t>{1, 2, 0});
        CHECK(r.timeline[5].at == "2026-01-01T10:01:00Z");

        // Slowest steps: lns.connected 40 s, gw-c's wait 39 s, cups.verify 28 s, ...
        REQUIRE(r.slowest.size() >= 3);
        CHECK(r.slowest[0].name == "lns.connected");
        CHECK(r.slowest[0].seconds == doctest::Approx(40));
        CHECK(r.slowest[1].gateway_id == "gw-c");
        CHECK(r.slowest[1].seconds == doctest::Approx(39));
        CHECK(r.slowest[2].name == "cups.verify");
        CHECK(r.slowest[2].seconds == doctest::Approx(28));

        const auto j = fleet::to_json(r);
        CHECK(j["timeline"].size() == 6);
        CHECK(j["causes"]["lns-key-revoked"] == 1);
        CHECK(j["status_counts"]["no-stats"] == 1);

        const auto csv = fleet::to_csv(r);
        CHECK(csv.starts_with("gateway_id,kind,op_state,finished,connection,status_state,cause,steps,started_at,updated_at,duration_s\r\n"));
        CHECK(count(csv, "\r\n") == 5);
        CHECK(csv.find("gw-b,fleet,failed,true,disconnected,,rotate.new_key_rejected,2,") != std::string::npos);
    }

    TEST_CASE("the HTML loads nothing and carries the charts' numbers") {
        const auto ops = sample_journal();
        const auto st = sample_status();
        const auto html = fleet::to_html(fleet::build_report(ops, &st));
        CHECK(html.find("http://") == std::string::npos);
        CHECK(html.find("https://") == std::string::npos);
        CHECK(html.find("<script") == std::string::npos);
        CHECK(html.find("<link") == std::string::npos);
        CHECK(html.find("default-src 'none'") != std::string::npos);
        CHECK(std::regex_search(html, std::regex(R"((src|href)\s*=)")) == false);
        CHECK(count(html, "class=\"bar\"") == 3 + 7 + 3);  // causes, the 7 steps (at most 10), status states
    }

    TEST_CASE("build_report from files, write_report, and the page in headless Chromium") {
        test::temp_dir dir;
        const auto jpath = (dir.path / "journal.db").string();
        {
            auto j = store::journal::open(jpath);
            REQUIRE(j);
            for (const auto& e : sample_journal()) {
                auto o = j->begin(e.op.kind, e.op.subject, e.op.state, e.op.doc);
                REQUIRE(o);
                for (const auto& s : e.steps) REQUIRE(j->record(*o, e.op.state, e.op.doc, s));
                if (e.op.finished) REQUIRE(j->finish(*o, e.op.state, step("end", "done", e.op.updated_at)));
            }
        }
        test::write_file(dir.path / "status.json", fleet::to_json(sample_status()).dump());
        auto r = fleet::build_report(fleet::report_input{jpath, (dir.path / "status.json").string()});
        REQUIRE(r);
        CHECK(r->gateways.size() == 4);
        CHECK(r->causes.size() == 3);
        REQUIRE(fleet::write_report(*r, dir.path / "out"));
        for (const char* f : {"report.json", "report.csv", "report.html"}) CHECK(fs::exists(dir.path / "out" / f));
        CHECK(nlohmann::json::parse(test::slurp(dir.path / "out" / "report.json"))["gateways"].size() == 4);

        SUBCASE("unreadable inputs") {
            auto bad = fleet::build_report(fleet::report_input{(dir.path / "none.db").string(), ""});
            REQUIRE_FALSE(bad);
            CHECK(bad.err().id == "fleet.journal");
            test::write_file(dir.path / "bad.json", "{\"gateways\":3}");
            auto bad2 = fleet::build_report(fleet::report_input{"", (dir.path / "bad.json").string()});
            REQUIRE_FALSE(bad2);
            CHECK(bad2.err().id == "fleet.bad_status_file");
        }
        SUBCASE("Chromium renders it with the same numbers") {
            if (const char* no = std::getenv("TTIG_NO_CHROMIUM"); no && std::string_view(no) == "1") {
                MESSAGE("TTIG_NO_CHROMIUM=1: skipping the headless Chromium check of the fleet report");
                return;
            }
            auto chromium = find_chromium();
            REQUIRE_MESSAGE(chromium.has_value(), "chromium not found: `bash scripts/setup` installs it; TTIG_NO_CHROMIUM=1 skips this check");
            // The sample journal's numbers, from values (the file's op times are the wall clock's).
            const auto ops = sample_journal();
            const auto st = sample_status();
            const fs::path page = dir.path / "page.html";
            test::write_file(page, fleet::to_html(fleet::build_report(ops, &st)));
            const int rc = run_chromium(*chromium, dir.path, page, "--dump-dom", "dom");
            const std::string dom = test::slurp(dir.path / "dom.out");
            REQUIRE_MESSAGE(rc == 0, "chromium --dump-dom failed: ", tail(test::slurp(dir.path / "dom.err")));
            REQUIRE_MESSAGE(dom.find("</html>") != std::string::npos, "no DOM from chromium: ", tail(test::slurp(dir.path / "dom.err")));
            CHECK(dom.find("id=\"chart-timeline\"") != std::string::npos);
            CHECK(dom.find("<td class=\"final-connected\">1</td>") != std::string::npos);
            CHECK(dom.find("<td class=\"final-disconnected\">2</td>") != std::string::npos);
            CHECK(count(dom, "data-series=\"connected\" data-at=") == 6);
            CHECK(dom.find("data-label=\"rotate.new_key_rejected\" data-value=\"1\"") != std::string::npos);
            CHECK(dom.find("data-label=\"gw-a lns.connected (done)\" data-value=\"40\"") != std::string::npos);
            CHECK(dom.find("data-label=\"no-stats\" data-value=\"1\"") != std::string::npos);
            CHECK(dom.find("<b>4</b>gateways") != std::string::npos);

            const fs::path png = dir.path / "shot.png";
            const int rc2 = run_chromium(*chromium, dir.path, page, fmt::format("--screenshot={} --window-size=1200,1600", shell_quote(png)), "shot");
            REQUIRE_MESSAGE(rc2 == 0, "chromium --screenshot failed: ", tail(test::slurp(dir.path / "shot.err")));
            REQUIRE(fs::exists(png));
            CHECK(fs::file_size(png) > 10 * 1024);
        }
    }
}
