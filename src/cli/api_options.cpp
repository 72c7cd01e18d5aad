#include "cli/api_options.hpp"

#include "cli/common.hpp"

#include <ttig/net/host_map.hpp>
#include <ttig/tts/redact.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <sys/stat.h>

namespace ttig::cli {

int report(std::string_view sub, const cli_failure& f, bool json) { return report_error(sub, f.id, f.message, f.exit, json); }

void add_api_options(CLI::App& sub, api_cli_options& o, std::string_view rights) {
    sub.add_option("--tts", o.tts, "The Things Stack URL (Identity Server and home cluster); env TTIGCTL_TTS; default https://eu1.cloud.thethings.network");
    sub.add_option("--api-key", o.api_key, "Your API key (prefer TTIGCTL_API_KEY or --api-key-file: other users can read argv)");
    sub.add_option("--api-key-file", o.api_key_file, fmt::format("File holding your API key (else env TTIGCTL_API_KEY); needs {}", rights));
    sub.add_option("--resolve", o.resolve, "HOST:PORT:ADDR, as curl: connect HOST:PORT to ADDR (names, SNI and certificate checks unchanged)")
        ->allow_extra_args(false);
    sub.add_option("--ca", o.ca, "Extra trust anchor (PEM file) for The Things Stack's certificate (repeatable)")->allow_extra_args(false);
    sub.add_flag("--insecure", o.insecure, "Do not verify TLS certificates (loudly warned)");
    sub.add_option("--timeout", o.timeout_s, "Seconds per API request")->capture_default_str();
}

cli_result<std::string> read_secret_file(const std::string& path, std::string_view what, bool allow_loose) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !allow_loose && (st.st_mode & 077) != 0)
        return cli_failure{"cli.insecure_file",
                           fmt::format("{} {}: mode {:03o} lets other users read it; run chmod 600 {}", what, path, st.st_mode & 0777, path),
                           exit_local_io};
    auto t = read_file(path, what);
    if (!t) return cli_failure{"cli.local_io", t.err().detail.empty() ? t.err().what() : t.err().detail, exit_local_io};
    std::string s = *t;
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
    if (s.starts_with("Authorization: ")) s = s.substr(15);
    if (s.starts_with("Bearer ")) s = s.substr(7);
    if (s.empty()) return cli_failure{"cli.local_io", fmt::format("{} {}: the file is empty", what, path), exit_local_io};
    return s;
}

cli_result<std::string> secret_from(std::string_view sub, const std::string& file, std::string_view file_flag, const char* env,
                                    const std::string& argv_value, std::string_view argv_flag) {
    if (!file.empty()) return read_secret_file(file, file_flag);
    if (env)
        if (const char* e = std::getenv(env); e && *e) return std::string(e);
    if (!argv_value.empty())
        fmt::print(stderr, "ttigctl {}: warning: {} on the command line is visible to other local users (ps); prefer {} or {}\n", sub,
                   argv_flag, file_flag, env ? env : "a file");
    return argv_value;
}

cli_result<tts::client_options> make_client_options(std::string_view sub, api_cli_options& o, std::string_view user_agent) {
    if (o.tts.empty()) {
        const char* env = std::getenv("TTIGCTL_TTS");
        o.tts = env && *env ? env : "https://eu1.cloud.thethings.network";
    }
    if (!o.tts.starts_with("https://") && !o.tts.starts_with("http://"))
        return cli_failure{"cli.bad_option", fmt::format("--tts {}: use https://host[:port]", o.tts), exit_usage};
    while (o.tts.size() > 8 && o.tts.back() == '/') o.tts.pop_back();
    auto key = secret_from(sub, o.api_key_file, "--api-key-file", "TTIGCTL_API_KEY", o.api_key, "--api-key");
    if (!key) return std::move(key).err();
    if (key->empty())
        return cli_failure{"cli.bad_option", "no API key: set TTIGCTL_API_KEY or use --api-key-file", exit_usage};
    if (o.timeout_s <= 0 || o.timeout_s > 600) return cli_failure{"cli.bad_option", "--timeout must be 0..600 seconds", exit_usage};
    tts::client_options c;
    c.base_url = o.tts;
    c.api_key = *key;
    c.deadline = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    c.tls.insecure = o.insecure;
    for (const auto& f : o.ca) c.tls.ca_files.emplace_back(f);
    auto hosts = net::host_map::parse(o.resolve);
    if (!hosts) return cli_failure{"cli.bad_option", fmt::format("--resolve: {}", hosts.err().detail), exit_usage};
    c.hosts = std::move(*hosts);
    c.user_agent = std::string(user_agent);
    if (o.insecure)
        fmt::print(stderr, "ttigctl {}: WARNING: --insecure: TLS certificates are NOT verified; anyone on the path can read your API key\n", sub);
    return c;
}

}  // namespace ttig::cli
