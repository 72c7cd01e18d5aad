// fleet report: journal (+ status) → JSON, CSV, self-contained HTML with inline SVG charts.
#include <ttig/fleet/report.hpp>

#include <ttig/tts/models.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <set>
#include <system_error>

namespace ttig::fleet {

namespace {

using oj = nlohmann::ordered_json;

std::optional<bool> connection_of(const store::journal_step& s) {
    if (s.detail.is_object())
        if (auto it = s.detail.find("connected"); it != s.detail.end() && it->is_boolean()) return it->get<bool>();
    if (s.status == "done" && s.name.ends_with("connected")) return true;
    if (s.status == "waiting" || s.status == "failed") return false;
    return std::nullopt;
}

std::string cause_of(const nlohmann::json& j) {
    if (!j.is_object()) return {};
    for (const char* k : {"cause", "error_id", "id", "error"})
        if (auto it = j.find(k); it != j.end() && it->is_string() && !it->get<std::string>().empty()) return it->get<std::string>();
    if (auto it = j.find("error"); it != j.end() && it->is_object()) return cause_of(*it);
    return {};
}

std::optional<proto::time_point> when(const std::string& s) { return s.empty() ? std::nullopt : tts::parse_time(s); }

}  // namespace

fleet_report build_report(const std::vector<journal_entry>& ops, const status_result* status) {
    fleet_report r;
    std::map<std::string, report_gateway> gws;
    struct event {
        proto::time_point t;
        std::string at;
        std::string gateway;
        int state;  // 0 unknown (started), 1 connected, 2 disconnected
    };
    std::vector<event> events;
    std::vector<report_step> all_steps;

    for (const auto& e : ops) {
        const auto& op = e.op;
        if (op.kind == "fleet-run") {
            r.runs.push_back(nlohmann::json{{"id", op.id}, {"state", op.state}, {"created_at", op.created_at}, {"updated_at", op.updated_at},
                                            {"finished", op.finished}, {"doc", op.doc}});
            continue;
        }
        if (!op.subject.starts_with("gateway:")) continue;
        const std::string id = op.subject.substr(8);
        auto& g = gws[id];
        g.gateway_id = id;
        g.kind = op.kind;
        g.op_state = op.state;
        g.finished = op.finished;
        if (g.started_at.empty() || op.created_at < g.started_at) g.started_at = op.created_at;
        if (op.updated_at > g.updated_at) g.updated_at = op.updated_at;
        g.steps += e.steps.size();
        if (auto t = when(op.created_at)) events.push_back({*t, op.created_at, id, 0});
        std::string prev = op.created_at;
        std::string op_cause;
        std::optional<bool> last;
        for (const auto& s : e.steps) {
            report_step rs{id, op.kind, s.name, s.status, s.at, 0};
            if (auto a = when(prev), b = when(s.at); a && b) rs.seconds = std::max(0.0, std::chrono::duration<double>(*b - *a).count());
            prev = s.at;
            all_steps.push_back(rs);
            if (auto c = connection_of(s)) {
                last = c;
                if (auto t = when(s.at)) events.push_back({*t, s.at, id, *c ? 1 : 2});
            }
            if (s.status == "failed")
                if (auto c = cause_of(s.detail); !c.empty()) op_cause = c;
        }
        if (op.finished && op.state == "done" && last != std::optional<bool>(true)) {
            last = true;
            if (auto t = when(op.updated_at)) events.push_back({*t, op.updated_at, id, 1});
        }
        if (op_cause.empty() && op.state != "done") op_cause = cause_of(op.doc);
        if (!op_cause.empty()) g.cause = op_cause;
        if (last) g.connection = *last ? "connected" : "disconnected";
        if (auto a = when(g.started_at), b = when(g.updated_at); a && b) g.duration_s = std::max(0.0, std::chrono::duration<double>(*b - *a).count());
    }
    if (status) {
        for (const auto& s : status->gateways) {
            auto& g = gws[s.gateway_id];
            g.gateway_id = s.gateway_id;
            g.status_state = std::string(to_string(s.state));
            if (g.cause.empty()) g.cause = s.cause;
            if (g.cause.empty() && (s.state == gateway_state::unknown || s.state == gateway_state::forbidden || s.state == gateway_state::error))
                g.cause = s.error_id;
        }
        r.status_counts = status->counts;
        r.status_api_calls = status->calls.total();
    }
    for (auto& [id, g] : gws) {
        if (!g.cause.empty()) ++r.causes[g.cause];
        r.gateways.push_back(std::move(g));
    }

    // Timeline: apply the events in time order; one point per distinct time (at most ~400 kept).
    std::stable_sort(events.begin(), events.end(), [](const event& a, const event& b) { return a.t < b.t; });
    std::map<std::string, int> state;
    std::vector<timeline_point> pts;
    for (std::size_t i = 0; i < events.size();) {
        std::size_t j = i;
        while (j < events.size() && events[j].t == events[i].t) {
            const auto& ev = events[j];
            auto it = state.find(ev.gateway);
            if (ev.state != 0 || it == state.end()) state[ev.gateway] = ev.state;
            ++j;
        }
        timeline_point p;
        p.at = events[i].at;
        for (const auto& [_, s] : state) (s == 1 ? p.connected : s == 2 ? p.disconnected : p.unknown)++;
        pts.push_back(p);
        i = j;
    }
    if (pts.size() > 400) {
        const std::size_t step = (pts.size() + 399) / 400;
        std::vector<timeline_point> thin;
        for (std::size_t i = 0; i < pts.size(); i += step) thin.push_back(pts[i]);
        if (thin.back().at != pts.back().at) thin.push_back(pts.back());
        pts = std::move(thin);
    }
    r.timeline = std::move(pts);

    std::stable_sort(all_steps.begin(), all_steps.end(), [](const report_step& a, const report_step& b) { return a.seconds > b.seconds; });
    if (all_steps.size() > 10) all_steps.resize(10);
    r.slowest = std::move(all_steps);
    return r;
}

proto::basic_result<fleet_report, status_failure> build_report(const report_input& in) {
    std::vector<journal_entry> ops;
    std::optional<status_result> status;
    if (!in.journal_path.empty()) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(in.journal_path, ec))
            return status_failure{"fleet.journal", fmt::format("--journal {}: no such journal file", in.journal_path), "journal"};
        auto j = store::journal::open(in.journal_path);
        if (!j) return status_failure{"fleet.journal", fmt::format("--journal {}: {}", in.journal_path, j.err().what()), "journal"};
        for (std::string_view kind : {"fleet-run", "fleet", "rotate"}) {
            auto list = j->ops(kind, false);
            if (!list) return status_failure{"fleet.journal", fmt::format("--journal {}: {}", in.journal_path, list.err().what()), "journal"};
            for (auto& op : *list) {
                auto steps = j->steps(op.id);
                if (!steps) return status_failure{"fleet.journal", fmt::format("--journal {}: {}", in.journal_path, steps.err().what()), "journal"};
                ops.push_back({std::move(op), std::move(*steps)});
            }
        }
    }
    if (!in.status_path.empty()) {
        std::ifstream f(in.status_path, std::ios::binary);
        if (!f) return status_failure{"fleet.bad_status_file", fmt::format("--status {}: cannot be read", in.status_path), "status"};
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded()) return status_failure{"fleet.bad_status_file", fmt::format("--status {}: not JSON", in.status_path), "status"};
        auto s = status_from_json(j);
        if (!s) return status_failure{"fleet.bad_status_file", fmt::format("--status {}: {}", in.status_path, s.err().message), "status"};
        status = std::move(*s);
    }
    auto r = build_report(ops, status ? &*status : nullptr);
    r.journal = in.journal_path;
    r.status_file = in.status_path;
    return r;
}

nlohmann::ordered_json to_json(const fleet_report& r) {
    oj j = oj::object();
    j["journal"] = r.journal;
    j["status_file"] = r.status_file;
    oj runs = oj::array();
    for (const auto& x : r.runs) runs.push_back(oj::parse(x.dump()));
    j["runs"] = std::move(runs);
    oj gws = oj::array();
    for (const auto& g : r.gateways)
        gws.push_back(oj{{"gateway_id", g.gateway_id}, {"kind", g.kind},       {"op_state", g.op_state},       {"finished", g.finished},
                         {"connection", g.connection}, {"status_state", g.status_state}, {"cause", g.cause}, {"steps", g.steps},
                         {"started_at", g.started_at}, {"updated_at", g.updated_at}, {"duration_s", g.duration_s}});
    j["gateways"] = std::move(gws);
    oj tl = oj::array();
    for (const auto& p : r.timeline) tl.push_back(oj{{"at", p.at}, {"connected", p.connected}, {"disconnected", p.disconnected}, {"unknown", p.unknown}});
    j["timeline"] = std::move(tl);
    oj causes = oj::object();
    for (const auto& [k, v] : r.causes) causes[k] = v;
    j["causes"] = std::move(causes);
    oj slow = oj::array();
    for (const auto& s : r.slowest)
        slow.push_back(oj{{"gateway_id", s.gateway_id}, {"kind", s.kind}, {"name", s.name}, {"status", s.status}, {"at", s.at}, {"seconds", s.seconds}});
    j["slowest_steps"] = std::move(slow);
    oj sc = oj::object();
    for (const auto& [k, v] : r.status_counts) sc[k] = v;
    j["status_counts"] = std::move(sc);
    j["status_api_calls"] = r.status_api_calls;
    return j;
}

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char c : s) {
        if (c == '"') o += '"';
        o += c;
    }
    return o + "\"";
}

void esc(std::string& out, std::string_view s) {
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out += c;
        }
    }
}
std::string esc(std::string_view s) {
    std::string o;
    esc(o, s);
    return o;
}

std::string num(double v) {
    if (std::floor(v) == v && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
    return fmt::format("{:.3f}", v);
}

constexpr std::string_view css = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.5rem;margin:0 0 4px} h2{font-size:1.15rem;margin:28px 0 8px}
.meta{color:#5b6475;font-size:.9rem}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:1.4rem}
section{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 16px;margin:12px 0}
svg{max-width:100%;height:auto;font-size:11px}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #e7eaf0;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f0f2f5}
.connected{color:#137333} .disconnected{color:#b3261e}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.empty{color:#5b6475;font-style:italic}
footer{color:#5b6475;font-size:.8rem;margin-top:24px}
)";

// Horizontal bar chart: one <g class="bar" data-label data-value> per entry.
void bar_chart(std::string& out, std::string_view id, const std::vector<std::pair<std::string, double>>& rows, std::string_view unit,
               std::string_view colour) {
    if (rows.empty()) {
        fmt::format_to(std::back_inserter(out), "<p class=\"empty\" id=\"{}\">nothing to show</p>\n", id);
        return;
    }
    double max = 0;
    for (const auto& [_, v] : rows) max = std::max(max, v);
    if (max <= 0) max = 1;
    const int label_w = 300, bar_w = 520, row_h = 24;
    const int h = static_cast<int>(rows.size()) * row_h + 10;
    fmt::format_to(std::back_inserter(out), "<svg id=\"{}\" role=\"img\" viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\">\n", id,
                   label_w + bar_w + 90, h, label_w + bar_w + 90, h);
    int y = 5;
    for (const auto& [label, v] : rows) {
        const double w = std::max(1.0, bar_w * v / max);
        fmt::format_to(std::back_inserter(out),
                       "<g class=\"bar\" data-label=\"{0}\" data-value=\"{1}\"><title>{0}: {1}{2}</title>"
                       "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{0}</text>"
                       "<rect x=\"{5}\" y=\"{6}\" width=\"{7:.1f}\" height=\"{8}\" fill=\"{9}\"></rect>"
                       "<text class=\"value\" x=\"{10:.1f}\" y=\"{4}\">{1}{2}</text></g>\n",
                       esc(label), num(v), unit, label_w - 6, y + 15, label_w, y + 2, w, row_h - 6, colour, label_w + w + 6);
        y += row_h;
    }
    out += "</svg>\n";
}

// Step lines of connected / disconnected / unknown over the run.
void timeline_chart(std::string& out, const fleet_report& r) {
    if (r.timeline.empty()) {
        out += "<p class=\"empty\" id=\"chart-timeline\">the journal has no step times</p>\n";
        return;
    }
    std::vector<double> xs;
    std::optional<proto::time_point> t0;
    for (const auto& p : r.timeline) {
        auto t = tts::parse_time(p.at);
        if (t && !t0) t0 = t;
        xs.push_back(t && t0 ? std::chrono::duration<double>(*t - *t0).count() : 0);
    }
    const double span = std::max(1.0, xs.back());
    std::size_t ymax = 1;
    for (const auto& p : r.timeline) ymax = std::max({ymax, p.connected, p.disconnected, p.unknown});
    const double W = 860, H = 260, L = 50, B = 30, T = 10, R = 20;
    auto X = [&](double x) { return L + (W - L - R) * x / span; };
    auto Y = [&](double v) { return T + (H - T - B) * (1.0 - v / static_cast<double>(ymax)); };
    fmt::format_to(std::back_inserter(out), "<svg id=\"chart-timeline\" role=\"img\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\">\n", W, H);
    // Axes and a few grid lines.
    fmt::format_to(std::back_inserter(out), "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#888\"></line>", L, T, H - B);
    fmt::format_to(std::back_inserter(out), "<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#888\"></line>\n", L, H - B, W - R);
    for (int k = 0; k <= 4; ++k) {
        const double v = static_cast<double>(ymax) * k / 4;
        fmt::format_to(std::back_inserter(out), "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>", L - 4, Y(v) + 4, num(std::round(v)));
    }
    fmt::format_to(std::back_inserter(out), "<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">+{}</text>\n", L, H - 8,
                   esc(r.timeline.front().at), W - R, H - 8, esc(num(std::round(span)) + " s"));
    struct series {
        const char* name;
        const char* colour;
        std::size_t timeline_point::*field;
    };
    for (const series s : {series{"connected", "#1e8e3e", &timeline_point::connected}, series{"disconnected", "#d93025", &timeline_point::disconnected},
                           series{"unknown", "#9aa0a6", &timeline_point::unknown}}) {
        std::string pts;
        for (std::size_t i = 0; i < r.timeline.size(); ++i) {
            const double v = static_cast<double>(r.timeline[i].*s.field);
            if (i > 0) fmt::format_to(std::back_inserter(pts), "{:.1f},{:.1f} ", X(xs[i]), Y(static_cast<double>(r.timeline[i - 1].*s.field)));
            fmt::format_to(std::back_inserter(pts), "{:.1f},{:.1f} ", X(xs[i]), Y(v));
        }
        fmt::format_to(std::back_inserter(out), "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"></polyline>\n",
                       s.name, s.colour, pts);
        for (std::size_t i = 0; i < r.timeline.size(); ++i) {
            const auto v = r.timeline[i].*s.field;
            fmt::format_to(std::back_inserter(out),
                           "<circle class=\"pt\" data-series=\"{0}\" data-at=\"{1}\" data-value=\"{2}\" cx=\"{3:.1f}\" cy=\"{4:.1f}\" r=\"2.5\" fill=\"{5}\">"
                           "<title>{1}: {2} {0}</title></circle>\n",
                           s.name, esc(r.timeline[i].at), v, X(xs[i]), Y(static_cast<double>(v)), s.colour);
        }
    }
    out += "</svg>\n<p class=\"legend\"><span><i class=\"sw\" style=\"background:#1e8e3e\"></i>connected</span>"
           "<span><i class=\"sw\" style=\"background:#d93025\"></i>disconnected (waiting for the station, or failed)</span>"
           "<span><i class=\"sw\" style=\"background:#9aa0a6\"></i>started, not yet known</span></p>\n";
    const auto& last = r.timeline.back();
    fmt::format_to(std::back_inserter(out),
                   "<table id=\"timeline-final\"><tr><th>at the end ({})</th><th>connected</th><th>disconnected</th><th>unknown</th></tr>"
                   "<tr><td></td><td class=\"final-connected\">{}</td><td class=\"final-disconnected\">{}</td><td class=\"final-unknown\">{}</td></tr></table>\n",
                   esc(last.at), last.connected, last.disconnected, last.unknown);
}

}  // namespace

std::string to_csv(const fleet_report& r) {
    std::string out = "gateway_id,kind,op_state,finished,connection,status_state,cause,steps,started_at,updated_at,duration_s\r\n";
    for (const auto& g : r.gateways)
        out += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\r\n", csv_field(g.gateway_id), csv_field(g.kind), csv_field(g.op_state),
                           g.finished ? "true" : "false", csv_field(g.connection), csv_field(g.status_state), csv_field(g.cause), g.steps,
                           csv_field(g.started_at), csv_field(g.updated_at), num(g.duration_s));
    return out;
}

std::string to_html(const fleet_report& r) {
    std::string out;
    out.reserve(64 * 1024);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>ttigctl fleet report</title>\n<style>";
    out += css;
    out += "</style>\n</head>\n<body><main>\n<h1>ttigctl fleet report</h1>\n<p class=\"meta\">";
    if (!r.journal.empty()) out += "journal <code>" + esc(r.journal) + "</code> ";
    if (!r.status_file.empty()) out += "status <code>" + esc(r.status_file) + "</code> ";
    fmt::format_to(std::back_inserter(out), "· {} run(s)</p>\n", r.runs.size());

    std::size_t conn = 0, disc = 0;
    for (const auto& g : r.gateways) {
        const std::string& s = !g.status_state.empty() ? g.status_state : g.connection;
        if (s == "connected") ++conn;
        else if (!s.empty()) ++disc;
    }
    fmt::format_to(std::back_inserter(out),
                   "<div class=\"cards\"><div class=\"card\" id=\"card-gateways\"><b>{}</b>gateways</div>"
                   "<div class=\"card connected\" id=\"card-connected\"><b>{}</b>connected</div>"
                   "<div class=\"card disconnected\" id=\"card-disconnected\"><b>{}</b>not connected</div>"
                   "<div class=\"card\" id=\"card-causes\"><b>{}</b>distinct causes</div></div>\n",
                   r.gateways.size(), conn, disc, r.causes.size());

    out += "<section><h2>Connected vs disconnected over the run</h2>\n";
    timeline_chart(out, r);
    out += "</section>\n<section><h2>Causes by count</h2>\n";
    std::vector<std::pair<std::string, double>> causes;
    for (const auto& [k, v] : r.causes) causes.emplace_back(k, static_cast<double>(v));
    std::stable_sort(causes.begin(), causes.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    bar_chart(out, "chart-causes", causes, "", "#d93025");
    out += "</section>\n<section><h2>Slowest steps</h2>\n";
    std::vector<std::pair<std::string, double>> slow;
    for (const auto& s : r.slowest) slow.emplace_back(fmt::format("{} {} ({})", s.gateway_id, s.name, s.status), s.seconds);
    bar_chart(out, "chart-slowest", slow, " s", "#1a73e8");
    out += "</section>\n";
    if (!r.status_counts.empty()) {
        out += "<section><h2>Connection state (fleet status)</h2>\n";
        std::vector<std::pair<std::string, double>> st;
        for (const auto& [k, v] : r.status_counts) st.emplace_back(k, static_cast<double>(v));
        bar_chart(out, "chart-status", st, "", "#5f6368");
        fmt::format_to(std::back_inserter(out), "<p class=\"meta\">{} API call(s) for the status</p></section>\n", r.status_api_calls);
    }
    out += "<section><h2>Gateways</h2>\n<table id=\"gateways\"><tr><th>gateway</th><th>operation</th><th>state</th><th>connection</th>"
           "<th>status</th><th>cause</th><th>steps</th><th>duration</th></tr>\n";
    for (const auto& g : r.gateways) {
        fmt::format_to(std::back_inserter(out), "<tr><td>{}</td><td>{}</td><td>{}{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s</td></tr>\n",
                       esc(g.gateway_id), esc(g.kind), esc(g.op_state), g.finished ? " (finished)" : "", esc(g.connection), esc(g.connection),
                       esc(g.status_state), esc(g.cause), g.steps, num(std::round(g.duration_s * 10) / 10));
    }
    out += "</table></section>\n<footer>Made by ttigctl fleet report. The journal holds key IDs and names, never a token; "
           "this page loads nothing and runs no script.</footer>\n</main></body></html>\n";
    return out;
}

proto::basic_result<void, status_failure> write_report(const fleet_report& r, const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return status_failure{"fleet.report_output", fmt::format("--out-dir {}: {}", dir.string(), ec.message()), "output"};
    const std::pair<const char*, std::string> files[] = {
        {"report.json", to_json(r).dump(2) + "\n"}, {"report.csv", to_csv(r)}, {"report.html", to_html(r)}};
    for (const auto& [name, text] : files) {
        const fs::path target = dir / name, tmp = dir / (std::string(".") + name + ".tmp");
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            f << text;
            f.flush();
            if (!f) return status_failure{"fleet.report_output", fmt::format("--out-dir {}: cannot write {}", dir.string(), tmp.string()), "output"};
        }
        fs::rename(tmp, target, ec);
        if (ec) return status_failure{"fleet.report_output", fmt::format("--out-dir {}: {}: {}", dir.string(), target.string(), ec.message()), "output"};
    }
    return {};
}

}  // namespace ttig::fleet
