// Fleet manifests: CSV (RFC 4180 quoting) and JSON, validated all at once (docs/fleet.md).
#include <ttig/fleet/manifest.hpp>

#include <ttig/provision/claim.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sys/stat.h>

namespace ttig::fleet {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_frequency_plans = 8;

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && lower(s.substr(s.size() - suffix.size())) == suffix;
}

// ---- CSV -----------------------------------------------------------------------------------------

struct csv_record {
    std::size_t line = 0;  // the line the record starts on
    std::vector<std::string> fields;
};
struct csv_problem {
    std::size_t line = 0;
    std::string message;  // never quotes the field's text (it may be a token)
};
struct csv_parsed {
    std::vector<csv_record> records;
    std::vector<csv_problem> problems;
};

// RFC 4180 with leniencies: LF, CRLF or CR line ends; white space around unquoted fields trimmed;
// blank lines and lines starting with '#' skipped; a UTF-8 BOM ignored. Quoted fields may hold
// commas, quotes ("") and line breaks.
csv_parsed parse_csv(std::string_view text) {
    csv_parsed out;
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    std::size_t i = 0, line = 1;
    const std::size_t n = text.size();
    auto at_eol = [&](std::size_t k) { return k >= n || text[k] == '\n' || text[k] == '\r'; };
    auto skip_eol = [&] {  // at a line end (or n): past it
        if (i < n && text[i] == '\r') ++i;
        if (i < n && text[i] == '\n') ++i;
        ++line;
    };
    while (i < n) {
        // A record starts here.
        const std::size_t start_line = line;
        {
            std::size_t k = i;
            while (k < n && (text[k] == ' ' || text[k] == '\t')) ++k;
            if (at_eol(k)) {  // blank line
                i = k;
                skip_eol();
                continue;
            }
            if (text[k] == '#') {  // comment line
                while (!at_eol(i)) ++i;
                skip_eol();
                continue;
            }
        }
        csv_record rec;
        rec.line = start_line;
        bool bad = false;
        for (;;) {
            std::string field;
            std::size_t k = i;
            while (k < n && (text[k] == ' ' || text[k] == '\t')) ++k;
            if (k < n && text[k] == '"') {
                i = k + 1;
                bool closed = false;
                while (i < n) {
                    const char c = text[i];
                    if (c == '"') {
                        if (i + 1 < n && text[i + 1] == '"') {
                            field += '"';
                            i += 2;
                            continue;
                        }
                        ++i;
                        closed = true;
                        break;
                    }
                    if (c == '\r' || c == '\n') {
                        if (c == '\r' && i + 1 < n && text[i + 1] == '\n') {
                            field += "\r\n";
                            i += 2;
                        } else {
                            field += c;
                            ++i;
                        }
                        ++line;
                        continue;
                    }
                    field += c;
                    ++i;
                }
                if (!closed) {
                    out.problems.push_back({start_line, "a quoted field is not closed (a '\"' is missing before the end of the file)"});
                    return out;
                }
                while (i < n && (text[i] == ' ' || text[i] == '\t')) ++i;
                if (!at_eol(i) && text[i] != ',') {
                    if (!bad) out.problems.push_back({line, "text after the closing quote of a field (write \"\" for a quote inside a quoted field)"});
                    bad = true;
                    while (!at_eol(i) && text[i] != ',') ++i;
                }
            } else {
                std::size_t e = i;
                while (!at_eol(e) && text[e] != ',') ++e;
                const std::string_view raw = trim(text.substr(i, e - i));
                if (raw.find('"') != std::string_view::npos && !bad) {
                    out.problems.push_back({line, "a quote inside an unquoted field (quote the whole field and write \"\" for the quote)"});
                    bad = true;
                }
                field = std::string(raw);
                i = e;
            }
            rec.fields.push_back(std::move(field));
            if (i < n && text[i] == ',') {
                ++i;
                continue;
            }
            break;  // end of line or file
        }
        skip_eol();
        if (!bad) out.records.push_back(std::move(rec));
    }
    return out;
}

std::vector<std::string> split_bar(std::string_view s) {
    std::vector<std::string> out;
    if (trim(s).empty()) return out;
    std::size_t start = 0;
    for (;;) {
        const auto bar = s.find('|', start);
        out.emplace_back(trim(s.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start)));
        if (bar == std::string_view::npos) break;
        start = bar + 1;
    }
    return out;
}

bool csv_needs_quotes(std::string_view s) {
    return s.find_first_of(",\"\r\n") != std::string_view::npos || (!s.empty() && (s.front() == ' ' || s.front() == '\t' ||
                                                                                  s.back() == ' ' || s.back() == '\t' || s.front() == '#'));
}

std::string csv_field(std::string_view s) {
    if (!csv_needs_quotes(s)) return std::string(s);
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

// ---- file access ---------------------------------------------------------------------------------

struct file_read {
    bool ok = false;
    std::string text;
    std::string error;        // why it could not be read
    bool secure_mode = true;  // no group/other permission bits
    unsigned mode = 0;
};

file_read read_whole(const std::string& path) {
    file_read r;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        r.error = fmt::format("cannot read the file: {}", std::strerror(errno));
        return r;
    }
    if (S_ISDIR(st.st_mode)) {
        r.error = "cannot read the file: it is a directory";
        return r;
    }
    r.mode = static_cast<unsigned>(st.st_mode & 07777);
    r.secure_mode = (st.st_mode & (S_IRWXG | S_IRWXO)) == 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        r.error = fmt::format("cannot read the file: {}", std::strerror(errno));
        return r;
    }
    r.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
        r.error = "cannot read the file: read error";
        return r;
    }
    r.ok = true;
    return r;
}

// ---- validation ----------------------------------------------------------------------------------

// One row as read, before checks: every value a string (lists joined by '|' for CSV).
struct raw_row {
    std::size_t line = 0;
    std::optional<std::string> eui;
    std::string eui_column = "eui";  // "eui" or "code": the name used, for errors
    std::string gateway_id;
    std::vector<std::string> plans;
    std::string cluster;
    std::vector<std::string> actions;
    std::string owner_token;
    bool has_gateway_id = false;
};

class validator {
public:
    validator(std::string file, bool is_json) : file_(std::move(file)), json_(is_json) {}

    void error(std::size_t line, std::string column, std::string message) {
        errors_.push_back({file_, line, std::move(column), std::move(message), json_});
    }
    void error_in(const std::string& file, std::size_t line, std::string column, std::string message) {
        errors_.push_back({file, line, std::move(column), std::move(message), false});
    }

    std::optional<manifest_row> check(const raw_row& r) {
        manifest_row row;
        row.file = file_;
        row.line = r.line;
        row.json = json_;
        const std::size_t before = errors_.size();
        if (r.eui && !r.eui->empty()) {
            auto p = proto::parse_eui(*r.eui);
            if (!p)
                error(r.line, r.eui_column,
                      fmt::format("`{}` is not an EUI or TTIG label code (16 hex digits, dashed, colon, eui-…, ID6, or the 12 "
                                  "hex digits after (92) on a TTIG label)",
                                  *r.eui));
            else
                row.eui = p->eui;
        }
        if (!r.has_gateway_id || r.gateway_id.empty())
            error(r.line, "gateway_id", "missing: every row needs a gateway ID");
        else if (!provision::valid_gateway_id(r.gateway_id))
            error(r.line, "gateway_id",
                  fmt::format("`{}` is not a valid gateway ID: lower-case letters, digits and single dashes, 3 to 36 characters, "
                              "starting and ending with a letter or digit",
                              r.gateway_id));
        row.gateway_id = r.gateway_id;
        for (const auto& p : r.plans) {
            if (p.empty()) {
                error(r.line, "frequency_plan", "an empty frequency plan ID (two '|' in a row, or one at an end)");
                continue;
            }
            const bool ok = std::all_of(p.begin(), p.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
            });
            if (!ok) error(r.line, "frequency_plan", fmt::format("`{}` is not a frequency plan ID (like EU_863_870_TTN)", p));
            else if (std::find(row.frequency_plan_ids.begin(), row.frequency_plan_ids.end(), p) == row.frequency_plan_ids.end())
                row.frequency_plan_ids.push_back(p);
        }
        if (row.frequency_plan_ids.size() > max_frequency_plans)
            error(r.line, "frequency_plan", fmt::format("{} frequency plans; a gateway takes at most 8", row.frequency_plan_ids.size()));
        if (!r.cluster.empty()) {
            if (!valid_cluster(r.cluster))
                error(r.line, "cluster",
                      fmt::format("`{}` is not a Gateway Server address: host[:port] without scheme or path, e.g. "
                                  "eu1.cloud.thethings.network",
                                  r.cluster));
            row.cluster = r.cluster;
        }
        for (const auto& a : r.actions) {
            if (a.empty()) {
                error(r.line, "actions", "an empty action (two '|' in a row, or one at an end)");
                continue;
            }
            const std::string name = lower(a);
            if (name == "rotate") {
                row.actions.insert(action::rotate_cups);
                row.actions.insert(action::rotate_lns);
            } else if (auto act = parse_action(name)) {
                row.actions.insert(*act);
            } else {
                error(r.line, "actions", fmt::format("unknown action `{}` (claim, set-gs, rotate-cups, rotate-lns, rotate, move)", a));
            }
        }
        row.owner_token = r.owner_token;
        if (errors_.size() != before) return std::nullopt;
        return row;
    }

    // Checks that need the whole row set and the tokens (after the owner-tokens file is merged).
    void check_actions(const manifest_row& row) {
        if (row.actions.count(action::claim)) {
            if (!row.eui) error(row.line, "eui", "a claim needs the gateway's EUI or TTIG label code");
            if (row.frequency_plan_ids.empty()) error(row.line, "frequency_plan", "a claim needs a frequency plan");
            if (row.owner_token.empty())
                error(row.line, "owner_token",
                      "a claim needs the owner token (the owner_token column of a 0600 manifest, or --owner-tokens FILE)");
        }
        if (row.cluster.empty()) {
            if (row.actions.count(action::set_gs)) error(row.line, "cluster", "set-gs needs the cluster (the Gateway Server address to set)");
            if (row.actions.count(action::move)) error(row.line, "cluster", "move needs the cluster to move the gateway to");
        }
    }

    void check_duplicates(const std::vector<manifest_row>& rows) {
        std::map<std::string, const manifest_row*> ids;
        std::map<proto::eui64, const manifest_row*> euis;
        for (const auto& r : rows) {
            if (!r.gateway_id.empty()) {
                auto [it, fresh] = ids.emplace(r.gateway_id, &r);
                if (!fresh)
                    error(r.line, "gateway_id", fmt::format("gateway ID `{}` is also on {}", r.gateway_id, it->second->where()));
            }
            if (r.eui) {
                auto [it, fresh] = euis.emplace(*r.eui, &r);
                if (!fresh) error(r.line, "eui", fmt::format("EUI {} is also on {}", r.eui->hex(), it->second->where()));
            }
        }
    }

    static bool valid_cluster(std::string_view a) {
        if (a.empty() || a.find("://") != std::string_view::npos || a.find_first_of("/@?#") != std::string_view::npos) return false;
        if (std::any_of(a.begin(), a.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) return false;
        std::string_view host = a, port;
        if (a.front() == '[') {
            const auto close = a.find(']');
            if (close == std::string_view::npos) return false;
            host = a.substr(0, close + 1);
            if (close + 1 < a.size()) {
                if (a[close + 1] != ':') return false;
                port = a.substr(close + 2);
                if (port.empty()) return false;
            }
        } else if (const auto colon = a.find(':'); colon != std::string_view::npos) {
            if (a.find(':', colon + 1) != std::string_view::npos) return false;
            host = a.substr(0, colon);
            port = a.substr(colon + 1);
            if (port.empty()) return false;
        }
        if (host.empty() || host == "[]") return false;
        if (!port.empty()) {
            if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
            const long p = std::stol(std::string(port));
            if (p < 1 || p > 65535) return false;
        }
        return true;
    }

    std::vector<manifest_error> take() { return std::move(errors_); }
    const std::string& file() const noexcept { return file_; }

private:
    std::string file_;
    bool json_;
    std::vector<manifest_error> errors_;
};

const std::vector<std::string>& csv_columns() {
    static const std::vector<std::string> c{"eui", "code", "gateway_id", "frequency_plan", "cluster", "actions", "owner_token"};
    return c;
}

std::vector<raw_row> read_csv_rows(std::string_view text, validator& v) {
    std::vector<raw_row> rows;
    auto parsed = parse_csv(text);
    for (const auto& p : parsed.problems) v.error(p.line, "", p.message);
    if (parsed.records.empty()) {
        if (parsed.problems.empty()) v.error(0, "", "empty: a CSV manifest starts with a header row (gateway_id,eui,…)");
        return rows;
    }
    const auto& header = parsed.records.front();
    std::vector<std::string> names;  // canonical column name per position ("" for an unusable one)
    std::map<std::string, std::size_t> seen;
    bool header_ok = true;
    for (std::size_t k = 0; k < header.fields.size(); ++k) {
        std::string name = lower(trim(header.fields[k]));
        const auto& known = csv_columns();
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            v.error(header.line, "",
                    name.empty() ? fmt::format("column {} of the header has no name", k + 1)
                                 : fmt::format("unknown column `{}` (columns: eui or code, gateway_id, frequency_plan, cluster, "
                                               "actions, owner_token)",
                                               name));
            header_ok = false;
            names.emplace_back();
            continue;
        }
        const std::string key = name == "code" ? "eui" : name;
        if (auto [it, fresh] = seen.emplace(key, k); !fresh) {
            v.error(header.line, "", fmt::format("column `{}` appears twice (eui and code are the same column)", name));
            header_ok = false;
        }
        names.push_back(name);
    }
    if (!seen.count("gateway_id")) {
        v.error(header.line, "", "the header has no gateway_id column");
        header_ok = false;
    }
    if (!header_ok) return rows;
    for (std::size_t r = 1; r < parsed.records.size(); ++r) {
        const auto& rec = parsed.records[r];
        if (rec.fields.size() != names.size()) {
            v.error(rec.line, "", fmt::format("{} fields, but the header has {} columns", rec.fields.size(), names.size()));
            continue;
        }
        raw_row row;
        row.line = rec.line;
        for (std::size_t k = 0; k < names.size(); ++k) {
            const std::string& f = rec.fields[k];
            const std::string& name = names[k];
            if (name == "eui" || name == "code") {
                row.eui = std::string(trim(f));
                row.eui_column = name;
            } else if (name == "gateway_id") {
                row.gateway_id = std::string(trim(f));
                row.has_gateway_id = true;
            } else if (name == "frequency_plan") {
                row.plans = split_bar(f);
            } else if (name == "cluster") {
                row.cluster = std::string(trim(f));
            } else if (name == "actions") {
                row.actions = split_bar(f);
            } else if (name == "owner_token") {
                row.owner_token = f;  // as given: a token may hold spaces
            }
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

// Line and column of a byte offset (1-based), for JSON syntax errors.
std::pair<std::size_t, std::size_t> line_col(std::string_view text, std::size_t offset) {
    std::size_t line = 1, col = 1;
    for (std::size_t k = 0; k < offset && k < text.size(); ++k) {
        if (text[k] == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
    }
    return {line, col};
}

std::vector<raw_row> read_json_rows(std::string_view text, validator& v) {
    std::vector<raw_row> rows;
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        // Not e.what(): nlohmann quotes the text it last read, which may be a token.
        const auto [l, c] = line_col(text, e.byte == 0 ? 0 : e.byte - 1);
        v.error(0, "", fmt::format("not valid JSON (syntax error at line {}, column {})", l, c));
        return rows;
    }
    if (!doc.is_object()) {
        v.error(0, "", R"(a JSON manifest is an object {"gateways":[…]})");
        return rows;
    }
    for (const auto& [k, val] : doc.items()) {
        (void)val;
        if (k != "gateways") v.error(0, "", fmt::format("unknown key `{}` at the top level (only \"gateways\")", k));
    }
    if (!doc.contains("gateways") || !doc["gateways"].is_array()) {
        v.error(0, "gateways", R"(missing or not an array: a JSON manifest is {"gateways":[{…},…]})");
        return rows;
    }
    std::size_t index = 0;
    for (const auto& g : doc["gateways"]) {
        ++index;
        if (!g.is_object()) {
            v.error(index, "", "not an object");
            continue;
        }
        raw_row row;
        row.line = index;
        bool ok = true;
        auto str = [&](const std::string& key, std::string& out) {
            const auto& x = g.at(key);
            if (x.is_null()) return;
            if (!x.is_string()) {
                v.error(index, key, "must be a string");
                ok = false;
                return;
            }
            out = x.get<std::string>();
        };
        auto list = [&](const std::string& key, std::vector<std::string>& out) {
            const auto& x = g.at(key);
            if (x.is_null()) return;
            if (x.is_string()) {
                out = split_bar(x.get<std::string>());
                return;
            }
            if (!x.is_array()) {
                v.error(index, key, "must be an array of strings (or one string)");
                ok = false;
                return;
            }
            for (const auto& e : x) {
                if (!e.is_string()) {
                    v.error(index, key, "must be an array of strings (or one string)");
                    ok = false;
                    out.clear();
                    return;
                }
                out.emplace_back(trim(e.get<std::string>()));
            }
        };
        for (const auto& [k, val] : g.items()) {
            (void)val;
            static const std::set<std::string> known{"eui", "code", "gateway_id", "frequency_plan", "frequency_plan_ids", "cluster",
                                                     "actions", "owner_token"};
            if (!known.count(k)) {
                v.error(index, "",
                        fmt::format("unknown key `{}` (keys: eui or code, gateway_id, frequency_plan, cluster, actions, owner_token)", k));
                ok = false;
            }
        }
        if (g.contains("eui") && g.contains("code")) {
            v.error(index, "", "both eui and code: give one");
            ok = false;
        }
        if (g.contains("frequency_plan") && g.contains("frequency_plan_ids")) {
            v.error(index, "", "both frequency_plan and frequency_plan_ids: give one");
            ok = false;
        }
        for (const char* k : {"eui", "code"}) {
            if (!g.contains(k)) continue;
            std::string e;
            str(k, e);
            row.eui = std::string(trim(e));
            row.eui_column = k;
        }
        if (g.contains("gateway_id")) {
            str("gateway_id", row.gateway_id);
            row.gateway_id = std::string(trim(row.gateway_id));
            row.has_gateway_id = true;
        }
        if (g.contains("frequency_plan")) list("frequency_plan", row.plans);
        if (g.contains("frequency_plan_ids")) list("frequency_plan_ids", row.plans);
        if (g.contains("cluster")) {
            str("cluster", row.cluster);
            row.cluster = std::string(trim(row.cluster));
        }
        if (g.contains("actions")) list("actions", row.actions);
        if (g.contains("owner_token")) str("owner_token", row.owner_token);
        if (ok) rows.push_back(std::move(row));
    }
    return rows;
}

// The "eui,owner_token" file: EUI → token.
std::map<proto::eui64, std::string> read_owner_tokens(const std::string& path, const manifest_options& o, validator& v) {
    std::map<proto::eui64, std::string> out;
    auto f = read_whole(path);
    if (!f.ok) {
        v.error_in(path, 0, "", f.error);
        return out;
    }
    if (o.check_file_modes && !f.secure_mode) {
        v.error_in(path, 0, "",
                   fmt::format("the owner-token file can be read by group or others (mode {:04o}); ttigctl refuses it: chmod 600 {}",
                               f.mode, path));
        return out;
    }
    auto parsed = parse_csv(f.text);
    for (const auto& p : parsed.problems) v.error_in(path, p.line, "", p.message);
    std::map<proto::eui64, std::size_t> lines;
    for (std::size_t r = 0; r < parsed.records.size(); ++r) {
        const auto& rec = parsed.records[r];
        if (r == 0 && !rec.fields.empty() && lower(trim(rec.fields[0])) == "eui") continue;  // a header
        if (rec.fields.size() != 2) {
            v.error_in(path, rec.line, "", fmt::format("{} fields; each line is EUI,owner_token", rec.fields.size()));
            continue;
        }
        auto e = proto::parse_eui(trim(rec.fields[0]));
        if (!e) {
            // The text is not echoed: with the columns swapped it would be the token.
            v.error_in(path, rec.line, "eui", "the first field is not an EUI or TTIG label code (each line is EUI,owner_token)");
            continue;
        }
        if (rec.fields[1].empty()) {
            v.error_in(path, rec.line, "owner_token", "empty owner token");
            continue;
        }
        if (auto [it, fresh] = lines.emplace(e->eui, rec.line); !fresh) {
            v.error_in(path, rec.line, "eui", fmt::format("EUI {} is also on line {}", e->eui.hex(), it->second));
            continue;
        }
        out[e->eui] = rec.fields[1];
    }
    return out;
}

// Replaces every owner token in the error texts (a token in a wrong column would be echoed).
// Also keeps every text on one line (a quoted field may hold a line break).
void scrub(std::vector<manifest_error>& errors, const std::vector<std::string>& tokens) {
    for (auto& e : errors) {
        for (const auto& t : tokens) {
            if (t.size() < 3) continue;
            static const std::string hidden = "<owner token>";
            for (std::size_t at = e.message.find(t); at != std::string::npos; at = e.message.find(t, at + hidden.size()))
                e.message.replace(at, t.size(), hidden);
        }
        std::string one_line;
        for (char c : e.message) {
            if (c == '\n') one_line += "\\n";
            else if (c == '\r') one_line += "\\r";
            else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) one_line += '?';
            else one_line += c;
        }
        e.message = std::move(one_line);
    }
}

}  // namespace

std::string_view to_string(action a) noexcept {
    switch (a) {
        case action::claim: return "claim";
        case action::set_gs: return "set-gs";
        case action::rotate_cups: return "rotate-cups";
        case action::rotate_lns: return "rotate-lns";
        case action::move: return "move";
    }
    return "?";
}

std::optional<action> parse_action(std::string_view name) noexcept {
    for (action a : {action::claim, action::set_gs, action::rotate_cups, action::rotate_lns, action::move})
        if (to_string(a) == name) return a;
    return std::nullopt;
}

std::string manifest_row::where() const { return json ? fmt::format("{}:#{}", file, line) : fmt::format("{}:{}", file, line); }

std::string manifest_error::text() const {
    std::string s = file;
    if (line != 0) s += json ? fmt::format(":#{}", line) : fmt::format(":{}", line);
    s += ": ";
    if (!column.empty()) s += column + ": ";
    s += message;
    return s;
}

manifest parse_manifest(std::string_view text, const std::string& name, bool is_json, const manifest_options& options,
                        bool has_secure_mode) {
    manifest m;
    validator v(name, is_json);
    auto raw = is_json ? read_json_rows(text, v) : read_csv_rows(text, v);

    std::vector<std::string> tokens;
    bool column_tokens = false;
    for (const auto& r : raw)
        if (!r.owner_token.empty()) {
            column_tokens = true;
            tokens.push_back(r.owner_token);
        }
    if (column_tokens && options.check_file_modes && !has_secure_mode)
        v.error(0, "owner_token",
                fmt::format("the manifest holds owner tokens but group or others can read it; ttigctl refuses it: chmod 600 {} "
                            "(or move the tokens to --owner-tokens FILE)",
                            name));

    std::map<proto::eui64, std::string> file_tokens;
    if (!options.owner_tokens_file.empty()) {
        file_tokens = read_owner_tokens(options.owner_tokens_file, options, v);
        for (const auto& [e, t] : file_tokens) tokens.push_back(t);
    }

    for (const auto& r : raw) {
        auto row = v.check(r);
        if (!row) continue;
        if (row->eui) {
            if (auto it = file_tokens.find(*row->eui); it != file_tokens.end()) {
                if (!row->owner_token.empty() && row->owner_token != it->second)
                    v.error(row->line, "owner_token",
                            fmt::format("the owner token differs from the one for {} in {}", row->eui->hex(), options.owner_tokens_file));
                else
                    row->owner_token = it->second;
            }
        }
        v.check_actions(*row);
        m.rows.push_back(std::move(*row));
    }
    v.check_duplicates(m.rows);
    m.errors = v.take();
    scrub(m.errors, tokens);
    // Every error of the manifest in line order (file-level first), then the tokens file's.
    std::stable_sort(m.errors.begin(), m.errors.end(), [&](const manifest_error& a, const manifest_error& b) {
        const bool am = a.file == name, bm = b.file == name;
        if (am != bm) return am;
        return a.line < b.line;
    });
    if (!m.errors.empty()) m.rows.clear();
    return m;
}

manifest read_manifest(const std::string& path, const manifest_options& options) {
    auto f = read_whole(path);
    if (!f.ok) {
        manifest m;
        m.errors.push_back({path, 0, "", f.error, false});
        return m;
    }
    bool is_json = false;
    if (ends_with_ci(path, ".json")) is_json = true;
    else if (ends_with_ci(path, ".csv")) is_json = false;
    else {
        const auto first = f.text.find_first_not_of(" \t\r\n");
        is_json = first != std::string::npos && (f.text[first] == '{' || f.text[first] == '[');
    }
    return parse_manifest(f.text, path, is_json, options, f.secure_mode);
}

manifest_format format_for_path(std::string_view path) noexcept {
    if (path.size() >= 5) {
        std::string ext(path.substr(path.size() - 5));
        for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (ext == ".json") return manifest_format::json;
    }
    return manifest_format::csv;
}

namespace {
std::vector<std::string> action_names(const std::set<action>& actions) {
    std::vector<std::string> out;
    for (action a : actions) out.emplace_back(to_string(a));
    return out;
}
}  // namespace

std::string format_manifest(const std::vector<manifest_row>& rows, manifest_format format) {
    if (format == manifest_format::json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& r : rows) {
            nlohmann::ordered_json g;
            g["eui"] = r.eui ? r.eui->hex() : std::string();
            g["gateway_id"] = r.gateway_id;
            g["frequency_plan"] = r.frequency_plan_ids;
            g["cluster"] = r.cluster;
            g["actions"] = action_names(r.actions);
            list.push_back(std::move(g));
        }
        nlohmann::ordered_json doc;
        doc["gateways"] = std::move(list);
        return doc.dump(2) + "\n";
    }
    std::string out = "eui,gateway_id,frequency_plan,cluster,actions,owner_token\n";
    for (const auto& r : rows) {
        out += fmt::format("{},{},{},{},{},\n", csv_field(r.eui ? r.eui->hex() : std::string()), csv_field(r.gateway_id),
                           csv_field(fmt::format("{}", fmt::join(r.frequency_plan_ids, "|"))), csv_field(r.cluster),
                           csv_field(fmt::format("{}", fmt::join(action_names(r.actions), "|"))));
    }
    return out;
}

}  // namespace ttig::fleet
