// Headless Chromium for the tests of self-contained HTML pages (doctor's report, fleet report).
#pragma once

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace ttig::test {

// Debian's `chromium` on PATH, else /usr/bin/chromium.
inline std::optional<std::string> find_chromium() {
    namespace fs = std::filesystem;
    auto executable = [](const fs::path& p) {
        std::error_code ec;
        auto st = fs::status(p, ec);
        return !ec && fs::is_regular_file(st) && (st.permissions() & fs::perms::others_exec) != fs::perms::none;
    };
    if (const char* path = std::getenv("PATH")) {
        std::string_view rest(path);
        while (!rest.empty()) {
            auto colon = rest.find(':');
            auto dir = rest.substr(0, colon);
            if (!dir.empty() && executable(fs::path(dir) / "chromium")) return (fs::path(dir) / "chromium").string();
            rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
        }
    }
    if (executable("/usr/bin/chromium")) return "/usr/bin/chromium";
    return std::nullopt;
}

inline std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }  // temp paths hold no quote

// Runs headless Chromium on `page` with `mode` (--dump-dom, --screenshot=…); stdout and stderr to
// files <tag>.out and <tag>.err in `dir`. A fresh profile each run: nothing from a developer's
// browser leaks in.
inline int run_chromium(const std::string& binary, const std::filesystem::path& dir, const std::filesystem::path& page, const std::string& mode,
                        std::string_view tag) {
    const auto profile = dir / fmt::format("profile-{}", tag);
    std::filesystem::create_directories(profile);
    const std::string cmd = fmt::format(
        "timeout 120 {} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
        "--disable-component-update --disable-sync --user-data-dir={} {} {} >{} 2>{}",
        shell_quote(binary), shell_quote(profile), mode, shell_quote("file://" + page.string()), shell_quote(dir / fmt::format("{}.out", tag)),
        shell_quote(dir / fmt::format("{}.err", tag)));
    return std::system(cmd.c_str());
}

}  // namespace ttig::test
