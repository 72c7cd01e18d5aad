// ttigctl creds crc|inspect|build: a station's credential file sets on disk.
#include "cli/common.hpp"

#include <ttig/pki/pem.hpp>
#include <ttig/pki/x509.hpp>
#include <ttig/proto/blob.hpp>
#include <ttig/proto/cups.hpp>
#include <ttig/station/file_set.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <ctime>
#include <memory>

namespace ttig::cli {

namespace {

using proto::byte_view;
using proto::bytes;
using station::category;
using station::variant;

// CLI11 2.1 cannot store into these enums directly (their to_string overloads confuse its
// converters), so options hold the name and these map it after CLI11 checked membership.
category category_of(const std::string& name) { return name == "tc" ? category::tc : category::cups; }
variant variant_of(const std::string& name) { return name == "bak" ? variant::bak : name == "boot" ? variant::boot : variant::regular; }

// ---- creds crc ------------------------------------------------------------------------------------

struct crc_options {
    std::string dir;
    std::string set_name;
    category set = category::cups;
    bool json = false;
};

int run_crc(const crc_options& o) {
    station::home h(o.dir);
    auto crc = h.cred_crc(o.set);
    if (!crc) return report_error("creds crc", crc.err(), exit_code_for(crc.err()), o.json);
    if (o.json) {
        nlohmann::ordered_json j;
        j["set"] = std::string(station::to_string(o.set));
        j["crc"] = *crc;
        print_json(j);
    } else {
        fmt::print("{}\n", *crc);
    }
    return exit_ok;
}

// ---- creds inspect ----------------------------------------------------------------------------------

// What a certificate file holds, for display. Never fails: problems become "error" members.
nlohmann::ordered_json describe_cert(const bytes& raw) {
    nlohmann::ordered_json j;
    j["size"] = raw.size();
    j["format"] = pki::looks_like_pem(raw) ? "pem" : "der";
    auto chain = pki::certificate_chain(raw);
    if (!chain) {
        j["error"] = chain.err().what();
        return j;
    }
    j["certificates"] = chain->size();
    auto info = pki::inspect_certificate(chain->front());
    if (!info) {
        j["error"] = info.err().what();
        return j;
    }
    j["subject"] = info->subject;
    j["issuer"] = info->issuer;
    j["not_before"] = info->not_before;
    j["not_after"] = info->not_after;
    j["expired"] = pki::expired_at(*info, static_cast<std::int64_t>(std::time(nullptr)));
    j["key_type"] = info->key_type;
    j["key_bits"] = info->key_bits;
    j["signature_algorithm"] = info->signature_algorithm;
    j["self_signed"] = info->self_signed;
    j["is_ca"] = info->is_ca;
    j["sha256"] = info->sha256_fingerprint;
    return j;
}

nlohmann::ordered_json describe_key(const bytes& raw) {
    nlohmann::ordered_json j;
    j["size"] = raw.size();
    if (raw.empty()) {
        j["kind"] = "empty";
    } else if (raw.front() == 0x30 || pki::looks_like_pem(raw)) {
        auto der = pki::private_key_der(raw);
        j["kind"] = "private-key";
        j["format"] = raw.front() == 0x30 ? "der" : "pem";
        if (!der) j["error"] = der.err().what();
    } else {
        j["kind"] = "token";
        auto norm = station::normalise_token(proto::as_chars(raw));
        if (!norm) j["error"] = norm.err().what();
        // Only the redacted secret is ever shown.
        const auto secret = proto::token_secret(proto::as_chars(raw));
        if (!secret.empty()) j["authorization"] = proto::redact_secret(secret);
        j["bearer_prefix"] = proto::as_chars(raw).find("Authorization: Bearer ") != std::string_view::npos;
        j["ends_with_crlf"] = proto::as_chars(raw).ends_with("\r\n");
    }
    return j;
}

// The §2.4 mismatch traps: why a station's CRC would differ from the blob TTS builds.
std::vector<std::string> crc_traps(const station::cred_set& s, category cat) {
    std::vector<std::string> w;
    const char* c = cat == category::cups ? "cups" : "tc";
    if (s.trust && pki::looks_like_pem(*s.trust))
        w.push_back(fmt::format("{}.trust is PEM: its CRC differs from the DER trust TTS sends, so TTS resends the credentials "
                                "on every CUPS contact{}",
                                c, cat == category::tc ? " (and the station restarts its LNS connection each time)" : ""));
    if (s.key && !s.key->empty() && s.key->front() != 0x30 && !pki::looks_like_pem(*s.key)) {
        auto text = proto::as_chars(*s.key);
        if (text.find("Authorization: Bearer ") != std::string_view::npos)
            w.push_back(fmt::format("{}.key holds 'Bearer ': TTS writes the bare key, so the CRCs differ", c));
        if (!text.ends_with("\r\n")) w.push_back(fmt::format("{}.key does not end in CRLF as TTS writes it", c));
    }
    if (s.trust && !s.trust->empty()) {
        if (auto chain = pki::certificate_chain(*s.trust); chain && !chain->empty())
            if (auto info = pki::inspect_certificate(chain->front()); info && !info->self_signed)
                w.push_back(fmt::format("{}.trust is not a self-signed root (issuer {}): TTS sends the root CA", c, info->issuer));
    }
    return w;
}

nlohmann::ordered_json describe_set(const station::home& h, category cat, variant v, std::vector<std::string>& warnings) {
    nlohmann::ordered_json j;
    auto set = h.read(cat, v);
    if (!set) {
        j["error"] = set.err().what();
        return j;
    }
    const auto& s = *set;
    j["present"] = !s.empty();
    if (s.empty()) return j;
    j["uri"] = s.uri ? nlohmann::ordered_json(*s.uri) : nlohmann::ordered_json(nullptr);
    if (s.uri) {
        auto ok = cat == category::cups ? proto::station_check_uri(*s.uri, {"http", "https"}) : proto::station_check_uri(*s.uri, {"ws", "wss"});
        if (!ok) {
            j["uri_error"] = ok.err().what();
            warnings.push_back(fmt::format("{}: a station rejects this URI: {}", station::file_name(cat, v, "uri"), ok.err().what()));
        }
    }
    j["trust"] = s.has_trust() ? describe_cert(*s.trust) : nlohmann::ordered_json(nullptr);
    j["crt"] = s.has_crt() ? describe_cert(*s.crt) : nlohmann::ordered_json(nullptr);
    j["key"] = s.key ? describe_key(*s.key) : nlohmann::ordered_json(nullptr);
    j["auth"] = std::string(station::to_string(s.auth_mode()));
    j["crc"] = s.crc();
    if (v == variant::regular)
        for (auto& t : crc_traps(s, cat)) warnings.push_back(std::move(t));
    return j;
}

struct inspect_options {
    std::string dir;
    bool json = false;
};

int run_inspect(const inspect_options& o) {
    station::home h(o.dir);
    // A missing home is an error; the CRC call checks it the same way the station would read it.
    if (auto crc = h.cred_crc(category::cups); !crc) return report_error("creds inspect", crc.err(), exit_code_for(crc.err()), o.json);

    nlohmann::ordered_json j;
    j["home"] = o.dir;
    std::vector<std::string> warnings;
    for (auto cat : {category::cups, category::tc}) {
        auto& c = j[std::string(station::to_string(cat))];
        for (auto v : {variant::regular, variant::bak, variant::boot, variant::temp})
            c[std::string(station::to_string(v))] = describe_set(h, cat, v, warnings);
        c["crc"] = *h.cred_crc(cat);
        c["bak_done"] = h.marker(cat, station::marker_done);
        c["update_pending"] = h.marker(cat, station::marker_upd);
        if (h.marker(cat, station::marker_upd))
            warnings.push_back(fmt::format("{} is present: an update was interrupted; a station finishes it at start",
                                           station::marker_name(cat, station::marker_upd)));
        auto sel = cat == category::cups ? h.cups_set() : h.tc_set();
        c["station_uses"] = sel ? nlohmann::ordered_json(std::string(station::to_string(sel->which))) : nlohmann::ordered_json(nullptr);
        if (!sel) c["station_uses_error"] = sel.err().what();
    }
    if (auto v = h.version_txt(); v && *v) j["package"] = **v;
    else j["package"] = nullptr;
    if (auto keys = h.sig_key_crcs(); keys) j["sig_keys"] = *keys;
    j["warnings"] = warnings;

    if (o.json) {
        print_json(j);
        return exit_ok;
    }
    fmt::print("station home {}\n", o.dir);
    for (auto cat : {category::cups, category::tc}) {
        const auto& c = j[std::string(station::to_string(cat))];
        fmt::print("\n{} set — CRC {} (the {} a station reports), station uses: {}\n", station::to_string(cat), c["crc"].get<std::uint32_t>(),
                   cat == category::cups ? "cupsCredCrc" : "tcCredCrc", c["station_uses"].is_null() ? "none (no .uri)" : c["station_uses"].get<std::string>());
        for (auto v : {variant::regular, variant::bak, variant::boot, variant::temp}) {
            const auto& s = c[std::string(station::to_string(v))];
            if (!s.value("present", false)) continue;
            fmt::print("  {:<8} uri {}\n", station::to_string(v), s["uri"].is_null() ? "(none)" : s["uri"].get<std::string>());
            if (!s["trust"].is_null()) {
                const auto& t = s["trust"];
                if (t.contains("error"))
                    fmt::print("           trust {} bytes {}: {}\n", t["size"].get<std::size_t>(), t["format"].get<std::string>(), t["error"].get<std::string>());
                else
                    fmt::print("           trust {} ({} bytes {}), issuer {}, expires {}{}\n", t["subject"].get<std::string>(),
                               t["size"].get<std::size_t>(), t["format"].get<std::string>(), t["issuer"].get<std::string>(),
                               t["not_after"].get<std::string>(), t["expired"].get<bool>() ? " EXPIRED" : "");
            }
            if (!s["crt"].is_null() && !s["crt"].contains("error"))
                fmt::print("           client cert {}, expires {}\n", s["crt"]["subject"].get<std::string>(), s["crt"]["not_after"].get<std::string>());
            if (!s["key"].is_null()) {
                const auto& k = s["key"];
                if (k["kind"] == "token")
                    fmt::print("           token Authorization: {}\n", k.value("authorization", std::string("(no Authorization line)")));
                else
                    fmt::print("           key {} ({} bytes)\n", k["kind"].get<std::string>(), k["size"].get<std::size_t>());
            }
            fmt::print("           auth {}, CRC {}\n", s["auth"].get<std::string>(), s["crc"].get<std::uint32_t>());
        }
    }
    if (!j["package"].is_null()) fmt::print("\npackage (version.txt) {}\n", j["package"].get<std::string>());
    for (const auto& w : warnings) fmt::print("warning: {}\n", w);
    return exit_ok;
}

// ---- creds build ------------------------------------------------------------------------------------

struct build_options {
    std::string dir;
    std::string set_name, variant_name = "regular";
    category set = category::cups;
    variant which = variant::regular;
    std::string uri, trust, cert, key, token_file;
    std::string token;  // from --token or TTIGCTL_TOKEN
    bool trust_as_is = false;
    bool force = false;
    bool json = false;
};

int run_build(build_options o) {
    const char* sub = "creds build";
    auto usage = [&](std::string_view id, std::string msg) { return report_error(sub, id, msg, exit_usage, o.json); };
    auto uri = o.set == category::cups ? proto::station_check_uri(o.uri, {"http", "https"}) : proto::station_check_uri(o.uri, {"ws", "wss"});
    if (!uri) return report_error(sub, uri.err(), exit_no_uri, o.json);

    station::cred_set s;
    s.uri = o.uri;
    // Everything is read and checked before anything is written: a bad input leaves the home untouched.
    auto trust_raw = pki::load_file(o.trust);
    if (!trust_raw) return report_error(sub, trust_raw.err(), exit_usage, o.json);
    auto trust_der = pki::certificate_der(*trust_raw);
    if (!trust_der) return report_error(sub, proto::error{trust_der.err().code, fmt::format("--trust {}: {}", o.trust, trust_der.err().detail)},
                                        exit_code_for(trust_der.err()), o.json);
    s.trust = o.trust_as_is ? *trust_raw : *trust_der;

    if (!o.token_file.empty()) {
        auto t = pki::load_file(o.token_file);
        if (!t) return report_error(sub, t.err(), exit_usage, o.json);
        o.token = std::string(proto::as_chars(*t));
    }
    if (!o.token.empty()) {
        std::string text = o.token;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        // A bare API key becomes the Authorization line TTS would deliver; header lines are kept.
        if (text.find(": ") == std::string::npos) text = "Authorization: " + text;
        auto norm = station::normalise_token(text);
        if (!norm) return report_error(sub, norm.err(), exit_usage, o.json);
        s.crt = bytes{};  // what a station writes for the 4-zero "no certificate" marker
        s.key = proto::to_bytes(*norm);
    } else if (!o.cert.empty() && !o.key.empty()) {
        auto c = pki::load_file(o.cert);
        if (!c) return report_error(sub, c.err(), exit_usage, o.json);
        auto cder = pki::certificate_der(*c);
        if (!cder) return report_error(sub, proto::error{cder.err().code, fmt::format("--cert {}: {}", o.cert, cder.err().detail)}, exit_code_for(cder.err()), o.json);
        auto k = pki::load_file(o.key);
        if (!k) return report_error(sub, k.err(), exit_usage, o.json);
        auto kder = pki::private_key_der(*k);
        if (!kder) return report_error(sub, proto::error{kder.err().code, fmt::format("--key {}: {}", o.key, kder.err().detail)}, exit_code_for(kder.err()), o.json);
        s.crt = *cder;
        s.key = *kder;
    } else if (!o.cert.empty() || !o.key.empty()) {
        return usage("cli.bad_option", "--cert and --key go together");
    } else {
        s.crt = bytes{};
        s.key = bytes{};  // server authentication only
    }

    station::home h(o.dir);
    auto existing = h.read(o.set, o.which);
    if (!existing) return report_error(sub, existing.err(), exit_code_for(existing.err()), o.json);
    if (!existing->empty() && !o.force)
        return report_error(sub, "cli.would_overwrite",
                            fmt::format("{} already holds a {} set in {}; pass --force to replace it", o.dir,
                                        station::file_name(o.set, o.which, "*"), o.dir),
                            exit_usage, o.json);

    auto written = o.which == variant::regular ? h.commit_update(o.set, s) : h.write_set(o.set, o.which, s);
    if (!written) return report_error(sub, written.err(), exit_code_for(written.err()), o.json);
    const auto crc = s.crc();
    if (o.json) {
        nlohmann::ordered_json j;
        j["home"] = o.dir;
        j["set"] = std::string(station::to_string(o.set));
        j["variant"] = std::string(station::to_string(o.which));
        j["uri"] = o.uri;
        j["auth"] = std::string(station::to_string(s.auth_mode()));
        j["crc"] = crc;
        print_json(j);
    } else {
        fmt::print("wrote {} ({} set, {}, auth {}) in {}\n", station::file_name(o.set, o.which, "{uri,trust,crt,key}"),
                   station::to_string(o.set), station::to_string(o.which), station::to_string(s.auth_mode()), o.dir);
        fmt::print("CRC {} (what a station with these files reports as {})\n", crc, o.set == category::cups ? "cupsCredCrc" : "tcCredCrc");
    }
    return exit_ok;
}

}  // namespace

void setup_creds(CLI::App& app) {
    auto* creds = app.add_subcommand("creds", "Read, check and write a Basics Station credential file set (cups.*, tc.*)");
    creds->require_subcommand(1);

    {
        auto o = std::make_shared<crc_options>();
        auto* sub = creds->add_subcommand("crc", "Print the cupsCredCrc or tcCredCrc a station with this file set reports (unsigned decimal)");
        sub->add_option("DIR", o->dir, "Station home directory holding cups.trust, cups.crt, cups.key, tc.* ...")->required();
        sub->add_option("--set", o->set_name, "Which set: cups or tc")->required()->check(CLI::IsMember({"cups", "tc"}));
        add_json_flag(*sub, o->json);
        sub->callback([o] {
            o->set = category_of(o->set_name);
            if (int rc = run_crc(*o); rc != 0) throw CLI::RuntimeError(rc);
        });
    }
    {
        auto o = std::make_shared<inspect_options>();
        auto* sub = creds->add_subcommand("inspect",
                                          "Show what a station home holds: URIs, trust and client certificates, tokens (redacted), CRCs,\n"
                                          "which set (regular, bak, boot) a station would use, and why TTS might resend credentials");
        sub->add_option("DIR", o->dir, "Station home directory")->required();
        add_json_flag(*sub, o->json);
        sub->callback([o] {
            if (int rc = run_inspect(*o); rc != 0) throw CLI::RuntimeError(rc);
        });
    }
    {
        auto o = std::make_shared<build_options>();
        auto* sub = creds->add_subcommand("build",
                                          "Write a credential set as a station holds it after a CUPS update: DER trust, an empty .crt\n"
                                          "and an 'Authorization: ...' CRLF key for tokens. The regular set is written through\n"
                                          "<set>-temp.* files and renames, as the station does; key files are mode 0600.");
        sub->add_option("DIR", o->dir, "Station home directory (must exist)")->required();
        sub->add_option("--set", o->set_name, "Which set: cups or tc")->required()->check(CLI::IsMember({"cups", "tc"}));
        sub->add_option("--variant", o->variant_name, "regular (default), bak or boot")->check(CLI::IsMember({"regular", "bak", "boot"}));
        sub->add_option("--uri", o->uri, "https://host:port for cups, wss://host:port for tc (port required, no path)")->required();
        sub->add_option("--trust", o->trust, "CA certificate, PEM or DER (written as DER unless --trust-as-is)")->required();
        sub->add_flag("--trust-as-is", o->trust_as_is, "Write the trust file byte for byte (a station also reads PEM; the CRC then differs from TTS's)");
        auto* tok = sub->add_option("--token", o->token,
                                    "API key (NNSXS....) or header line; prefer --token-file or TTIGCTL_TOKEN, argv is visible to other users")
                        ->envname("TTIGCTL_TOKEN");
        auto* tokf = sub->add_option("--token-file", o->token_file, "File holding the API key or header lines");
        auto* cert = sub->add_option("--cert", o->cert, "Client certificate for mutual TLS, PEM or DER");
        auto* key = sub->add_option("--key", o->key, "Client private key for mutual TLS, PEM or DER");
        tok->excludes(tokf)->excludes(cert)->excludes(key);
        tokf->excludes(cert)->excludes(key);
        sub->add_flag("--force", o->force, "Replace an existing set");
        add_json_flag(*sub, o->json);
        sub->callback([o] {
            o->set = category_of(o->set_name);
            o->which = variant_of(o->variant_name);
            if (int rc = run_build(*o); rc != 0) throw CLI::RuntimeError(rc);
        });
    }
}

}  // namespace ttig::cli
