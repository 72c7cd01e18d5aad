// ttigctl serve from the command line: --help says the reach plainly, bad values get one line and
// the documented exit code, a --duration 0 run prints its addresses and leaves a 0600 CA key.
// (The station exchanges themselves are tested end to end in tests/provision/serve_test.cpp.)
#include "support/run_cli.hpp"

#include <ttig/emu/api_keys.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>
#include <sys/stat.h>

using namespace ttig::test;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

std::vector<nlohmann::json> lines_of(const std::string& out) {
    std::vector<nlohmann::json> v;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) v.push_back(nlohmann::json::parse(l));
    return v;
}

// One line on stderr, "ttigctl serve: [id] ...", and the exit code.
void refused(const std::string& args, int rc, const std::string& id) {
    auto r = run_cli("serve " + args);
    CHECK_MESSAGE(r.rc == rc, args << "\n" << r.err);
    CHECK_MESSAGE(r.err.starts_with("ttigctl serve: [" + id + "] "), args << "\n" << r.err);
    CHECK_MESSAGE(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
}

}  // namespace

TEST_SUITE("cli.serve") {
    TEST_CASE("serve --help states the reach as the spec says it") {
        auto r = run_cli("serve --help");
        REQUIRE(r.rc == 0);
        CHECK(r.out.find("Reach: generic Basics Station gateways after the user edits `cups.uri` or `tc.uri`; a TTIG only through a TTS "
                         "deployment that allows CUPS URI updates and a publicly trusted certificate on `serve`; its factory CUPS cannot "
                         "be bypassed.") != std::string::npos);
        CHECK(r.out.find("--bind") != std::string::npos);
        CHECK(r.out.find("--handover-key-file") != std::string::npos);
        CHECK(r.out.find("--relay-lns") != std::string::npos);
    }

    TEST_CASE("serve refuses bad values with one line and the exit code of docs/exit-codes.md") {
        temp_dir d;
        const std::string state = " --state-dir " + (d / "state").string();
        refused("--duration 0" + state, 64, "serve.bad_bind");                 // no --bind
        refused("--bind 0.0.0.0 --duration 0" + state, 64, "serve.bad_bind");  // every interface
        refused("--bind localhost --duration 0" + state, 64, "serve.bad_bind");
        refused("--bind 127.0.0.1 --policy steal --duration 0" + state, 64, "cli.bad_option");
        refused("--bind 127.0.0.1 --for 58A0CBFFFE80=nope --duration 0" + state, 64, "cli.bad_option");
        refused("--bind 127.0.0.1 --for zz=relay --duration 0" + state, 64, "cli.bad_option");
        refused("--bind 127.0.0.1 --frequency-plan EU_868 --duration 0" + state, 64, "cli.bad_option");
        refused("--bind 127.0.0.1 --cups-port 7000 --lns-port 7000 --duration 0" + state, 64, "cli.bad_option");
        refused("--bind 127.0.0.1 --policy handover --duration 0" + state, 2, "serve.bad_policy");
        refused("--bind 127.0.0.1 --policy relay --relay-lns wss://eu1.cloud.thethings.network:8887 --duration 0" + state, 2, "serve.bad_policy");
        refused("--bind 127.0.0.1 --policy handover --handover-cups-uri https://eu1.cloud.thethings.network --duration 0" + state, 64,
                "serve.bad_target");
        refused("--bind 127.0.0.1 --policy handover --handover-trust " + (d / "missing.pem").string() + " --duration 0" + state, 64,
                "cli.bad_option");
        // A key file others can read is refused.
        write_file(d / "key", "NNSXS.EXAMPLEKEY\n");
        ::chmod((d / "key").c_str(), 0644);
        refused("--bind 127.0.0.1 --policy relay --relay-lns wss://eu1.cloud.thethings.network:8887 --relay-key-file " + (d / "key").string() +
                    " --duration 0" + state,
                8, "cli.insecure_file");
        write_file(d / "h.json", R"({"policy":"capture"})");
        ::chmod((d / "h.json").c_str(), 0644);
        refused("--bind 127.0.0.1 --handover-file " + (d / "h.json").string() + " --duration 0" + state, 8, "cli.insecure_file");
        write_file(d / "bad.json", R"({"cups_urii":"x"})");
        ::chmod((d / "bad.json").c_str(), 0600);
        refused("--bind 127.0.0.1 --handover-file " + (d / "bad.json").string() + " --duration 0" + state, 8, "serve.bad_settings_file");
        // With --json the error is a JSON object on stdout.
        auto j = run_cli("serve --bind 0.0.0.0 --json --duration 0" + state);
        CHECK(j.rc == 64);
        CHECK(nlohmann::json::parse(j.out)["error"]["id"] == "serve.bad_bind");
    }

    TEST_CASE("serve --duration 0 prints its addresses as JSON lines off a terminal and keeps its CA, key files 0600") {
        temp_dir d;
        const auto state = d / "state";
        auto r = run_cli("serve --bind 127.0.0.1 --cups-port 0 --lns-port 0 --ws-port 0 --duration 0 --state-dir " + state.string());
        REQUIRE_MESSAGE(r.rc == 0, r.err);
        auto lines = lines_of(r.out);  // stdout is not a terminal: JSON lines without --json
        REQUIRE(lines.size() == 2);
        CHECK(lines[0]["event"] == "listening");
        CHECK(lines[0]["bind"] == "127.0.0.1");
        CHECK(lines[0]["cups_uri"].get<std::string>().starts_with("https://127.0.0.1:"));
        CHECK(lines[0]["lns_uri"].get<std::string>().starts_with("wss://127.0.0.1:"));
        CHECK(lines[0]["ws_uri"].get<std::string>().starts_with("ws://127.0.0.1:"));
        CHECK(lines[0]["ca_file"] == fs::absolute(state / "ca.pem").string());
        CHECK(lines[0]["ca_created"] == true);
        CHECK(lines[0]["policy"] == "capture");
        CHECK(lines[1]["event"] == "stopped");
        CHECK(lines[1]["reason"] == "duration");
        CHECK(mode_of(state / "ca.key") == 0600);
        CHECK(mode_of(state / "server.key") == 0600);
        const std::string ca = slurp(state / "ca.pem");
        CHECK(ca.starts_with("-----BEGIN CERTIFICATE-----"));

        // A second run reuses the CA: stations keep trusting it.
        auto relay_key = ttig::emu::generate_api_key();  // made at run time, never a committed key
        REQUIRE(relay_key);
        const std::string relay_secret = relay_key->token.substr(relay_key->token.rfind('.') + 1);
        write_file(d / "lns.key", relay_key->token + "\n");
        ::chmod((d / "lns.key").c_str(), 0600);
        auto again = run_cli("serve --bind 127.0.0.1 --cups-port 0 --lns-port 0 --duration 0 --json --state-dir " + state.string() +
                             " --for 58A0CBFFFE800123=relay --relay-lns wss://eu1.cloud.thethings.network:8887 --relay-key-file " +
                             (d / "lns.key").string());
        REQUIRE_MESSAGE(again.rc == 0, again.err);
        auto l2 = lines_of(again.out);
        REQUIRE(l2.size() == 2);
        CHECK(l2[0]["ca_created"] == false);
        CHECK(l2[0]["stations"]["58A0CBFFFE800123"] == "relay");
        CHECK(slurp(state / "ca.pem") == ca);
        CHECK(again.out.find(relay_secret) == std::string::npos);
    }
}
