#include "cli/common.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace ttig::cli {

void add_json_flag(CLI::App& sub, bool& json) {
    sub.add_flag("--json", json, "Print the result as JSON on stdout (errors too)");
}

int report_error(std::string_view sub, std::string_view id, std::string_view message, int code, bool json) {
    if (json) {
        nlohmann::ordered_json j;
        j["error"] = {{"id", std::string(id)}, {"message", std::string(message)}, {"exit_code", code}};
        print_json(j);
    } else {
        fmt::print(stderr, "ttigctl {}: [{}] {}\n", sub, id, message);
    }
    return code;
}

int report_error(std::string_view sub, const proto::error& e, int code, bool json) {
    std::string msg = e.code.category().message(e.code.value());
    if (!e.detail.empty()) msg += ": " + e.detail;
    return report_error(sub, e.id(), msg, code, json);
}

int exit_code_for(const proto::error& e) {
    const std::string id = e.id();
    auto domain = std::string_view(id).substr(0, id.find('.'));
    if (domain == "eui") return exit_usage;
    if (domain == "station" || domain == "pki" || domain == "cli") return exit_local_io;
    if (domain == "cups" || domain == "tc" || domain == "blob") return exit_protocol;
    return exit_failed;
}

void print_json(const nlohmann::ordered_json& j) {
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    std::fflush(stdout);
}

proto::result<std::string> read_file(const std::filesystem::path& p, std::string_view what) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
        int err = errno;
        return proto::error{std::make_error_code(static_cast<std::errc>(err ? err : ENOENT)),
                            fmt::format("cannot read {} {}: {}", what, p.string(), std::strerror(err ? err : ENOENT))};
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return proto::error{std::make_error_code(std::errc::io_error), fmt::format("error reading {} {}", what, p.string())};
    return data;
}

bool stdout_is_tty() { return ::isatty(STDOUT_FILENO) == 1; }

}  // namespace ttig::cli
