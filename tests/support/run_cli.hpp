// Runs the built ttigctl binary and captures its exit code, stdout and stderr.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <sys/wait.h>

namespace ttig::test {

struct cli_result {
    int rc = -1;
    std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A fresh directory under the system temp dir, removed when the object goes.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() / ("ttig-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::filesystem::path operator/(const std::string& name) const { return path / name; }
};

// args are appended verbatim to the command line (quote them yourself when needed).
inline cli_result run_cli(const std::string& args, const std::string& env = {}) {
    temp_dir io;
    const auto out = io / "out", err = io / "err";
    const std::string cmd = env + (env.empty() ? "" : " ") + TTIG_CLI_BINARY + std::string(" ") + args + " >" + out.string() + " 2>" +
                            err.string() + " </dev/null";
    const int status = std::system(cmd.c_str());
    cli_result r;
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
}

inline void write_file(const std::filesystem::path& p, const std::string& data) {
    std::ofstream o(p, std::ios::binary);
    o << data;
}

// Bit-by-bit CRC-32/IEEE as basicstation-protocol §2.4 defines it (reflected 0xEDB88320, init and
// xor-out 0xFFFFFFFF): an implementation independent of the one under test.
inline std::uint32_t reference_crc32(const std::string& data, std::uint32_t crc = 0) {
    crc = ~crc;
    for (unsigned char c : data) {
        crc ^= c;
        for (int i = 0; i < 8; ++i) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

// The station's chained set CRC (§2.4): trust, crt, key; empty or missing = 4 zero bytes.
inline std::uint32_t reference_set_crc(const std::string& trust, const std::string& crt, const std::string& key) {
    std::uint32_t c = 0;
    for (const std::string* p : {&trust, &crt, &key}) c = reference_crc32(p->empty() ? std::string(4, '\0') : *p, c);
    return c;
}

}  // namespace ttig::test
