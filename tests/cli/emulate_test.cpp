// `ttigctl emulate tts` as a process: --config-out, TTS-shaped answers over TLS, where it listens,
// clean shutdown on SIGTERM, no secret in its output.
#include "support/run_cli.hpp"

#include <ttig/net/http_client.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <fstream>
#include <set>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

using namespace ttig;
using namespace ttig::test;
namespace fs = std::filesystem;

namespace {

// The inodes of the TCP sockets a process has open.
std::set<std::string> socket_inodes(pid_t pid) {
    std::set<std::string> out;
    for (const auto& e : fs::directory_iterator(fs::path("/proc") / std::to_string(pid) / "fd")) {
        std::error_code ec;
        auto target = fs::read_symlink(e.path(), ec).string();
        if (!ec && target.starts_with("socket:[")) out.insert(target.substr(8, target.size() - 9));
    }
    return out;
}

// Local addresses (hex, as /proc/net/tcp writes them) of the listening sockets among `inodes`.
std::vector<std::string> listening_addresses(const std::set<std::string>& inodes) {
    std::vector<std::string> out;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream ss(line);
            std::string sl, local, remote, state, queues, tr, retr, uid, timeout, inode;
            ss >> sl >> local >> remote >> state >> queues >> tr >> retr >> uid >> timeout >> inode;
            if (state == "0A" && inodes.count(inode)) out.push_back(local);
        }
    }
    return out;
}

struct emulator_process {
    temp_dir dir;
    pid_t pid = -1;
    fs::path config = dir / "c.json";
    fs::path out = dir / "out", err = dir / "err";

    emulator_process() {
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const std::string cfg = config.string();
        std::vector<std::string> args{TTIG_CLI_BINARY, "emulate", "tts", "--listen", "127.0.0.1:0", "--config-out", cfg, "--json"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        REQUIRE(posix_spawn(&pid, TTIG_CLI_BINARY, &fa, nullptr, argv.data(), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        // Wait for the config file: the emulator writes it once it listens (bounded poll).
        for (int i = 0; i < 400 && !fs::exists(config); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
        REQUIRE_MESSAGE(fs::exists(config), slurp(err));
    }
    int terminate() {
        if (pid < 0) return -1;
        ::kill(pid, SIGTERM);
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ~emulator_process() { terminate(); }
};

}  // namespace

TEST_SUITE("cli.emulate") {
    TEST_CASE("emulate tts: config-out, TTS answers over TLS, loopback only, clean SIGTERM, no secrets in output") {
        emulator_process p;
        auto cfg = nlohmann::json::parse(slurp(p.config));
        for (const char* k : {"api_url", "cups_url", "lns_url", "ca_file", "admin_api_key", "admin_user_id", "clusters"}) CHECK(cfg.contains(k));
        struct stat st {};
        REQUIRE(::stat(p.config.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        const std::string admin = cfg["admin_api_key"].get<std::string>();

        net::client_config cc;
        cc.tls.ca_files = {cfg["ca_file"].get<std::string>()};
        cc.tls.use_system_store = false;
        net::http_client http(cc);
        const net::request_options api{cfg["api_url"].get<std::string>()};
        auto call = [&](const std::string& method, const std::string& target, const std::string& body, const std::string& auth) {
            proto::http_request r;
            r.method = method;
            r.target = target;
            r.body = body;
            r.headers.set("Authorization", auth);
            if (!body.empty()) r.headers.set("Content-Type", "application/json");
            auto res = http.request(r, api);
            REQUIRE_MESSAGE(res.has_value(), (res ? "" : res.err().what()));
            return *res;
        };
        auto created = call("POST", "/api/v3/users/admin/gateways",
                            R"({"gateway":{"ids":{"gateway_id":"desk-ttig","eui":"58A0CBFFFE800001"},"frequency_plan_ids":["EU_863_870_TTN"]}})",
                            "Bearer " + admin);
        CHECK_MESSAGE(created.status == 200, created.body);
        auto got = call("GET", "/api/v3/gateways/desk-ttig", {}, "Bearer " + admin);
        CHECK(got.status == 200);
        auto gj = nlohmann::json::parse(got.body);
        CHECK(gj["ids"] == nlohmann::json::parse(R"({"gateway_id":"desk-ttig","eui":"58A0CBFFFE800001"})"));
        CHECK(gj.contains("created_at"));
        // unknown key: TTS's 401 api_key_not_found
        auto unknown = call("GET", "/api/v3/gateways/desk-ttig", {},
                            "Bearer NNSXS.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        CHECK(unknown.status == 401);
        CHECK(nlohmann::json::parse(unknown.body)["details"][0]["name"] == "api_key_not_found");
        // malformed token: TTS's 400 pkg/auth:token
        auto malformed = call("GET", "/api/v3/gateways/desk-ttig", {}, "Bearer not-a-token");
        CHECK(malformed.status == 400);
        CHECK(nlohmann::json::parse(malformed.body)["message"] == "error:pkg/auth:token (invalid token)");

        // It listens on 127.0.0.1 only (0100007F in /proc/net/tcp).
        auto listening = listening_addresses(socket_inodes(p.pid));
        CHECK(listening.size() >= 3);
        for (const auto& a : listening) {
            CAPTURE(a);
            CHECK(a.starts_with("0100007F:"));
        }

        CHECK(p.terminate() == 0);
        const std::string out = slurp(p.out), err = slurp(p.err);
        CHECK(out.find(R"("event":"listening")") != std::string::npos);
        CHECK(out.find(R"("event":"stopped")") != std::string::npos);
        CHECK(out.find(admin) == std::string::npos);
        CHECK(err.find(admin) == std::string::npos);
        CHECK(out.find(admin.substr(0, 10) + "…") != std::string::npos);  // redacted form only
    }

    TEST_CASE("emulate tts: a bad --listen or scenario is one line and a non-zero exit") {
        auto bad = run_cli("emulate tts --listen nowhere");
        CHECK(bad.rc == 64);
        CHECK(bad.err.find("[cli.bad_option]") != std::string::npos);
        temp_dir d;
        write_file(d / "s.json", R"({"gateways":[{"gateway":{"ids":{}}}]})");
        auto sc = run_cli("emulate tts --scenario " + (d / "s.json").string());
        CHECK(sc.rc != 0);
        CHECK(sc.err.find("[emu.bad_scenario]") != std::string::npos);
        CHECK(std::count(sc.err.begin(), sc.err.end(), '\n') == 1);
    }
}

TEST_SUITE("cli.emulate") {
    TEST_CASE("emulate station: JSON lines from start to summary — bad options are one line and exit 64") {
        temp_dir d;
        // A home with only a CUPS URI that refuses connections (port 1 on loopback): the station
        // tries CUPS at once and reports the failure; the run ends after --duration.
        write_file(d / "cups.uri", "https://127.0.0.1:1");
        auto r = run_cli("emulate station --home " + d.path.string() + " --profile ttig --eui 58A0CBFFFE800123 --duration 1.5");
        CHECK(r.rc == 0);
        std::vector<nlohmann::json> lines;
        std::size_t start = 0;
        while (start < r.out.size()) {
            const auto nl = r.out.find('\n', start);
            auto j = nlohmann::json::parse(r.out.substr(start, nl - start), nullptr, false);
            REQUIRE_MESSAGE(!j.is_discarded(), r.out);
            lines.push_back(j);
            if (nl == std::string::npos) break;
            start = nl + 1;
        }
        REQUIRE(lines.size() >= 4);
        CHECK(lines.front()["event"] == "started");
        CHECK(lines.back()["event"] == "summary");
        CHECK(lines.back()["stations"] == 1);
        CHECK(lines.back()["stopped_by"] == "duration");
        bool requested = false, failed = false;
        for (const auto& j : lines) {
            if (j.value("event", "") == "cups.request") requested = j["eui"] == "58A0CBFFFE800123";
            if (j.value("event", "") == "cups.fail") failed = j["led"] == "green_blink_fast";
        }
        CHECK(requested);
        CHECK(failed);

        auto bad = run_cli("emulate station --home " + d.path.string() + " --profile toaster");
        CHECK(bad.rc == 64);
        CHECK(bad.err.find("[cli.bad_option]") != std::string::npos);
        CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
    }
}
