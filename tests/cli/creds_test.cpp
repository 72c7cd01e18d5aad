// ttigctl creds crc / inspect / build against file sets on disk.
#include "support/run_cli.hpp"

#include <doctest/doctest.h>

#include <set>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sys/stat.h>

using namespace ttig::test;
namespace fs = std::filesystem;

namespace {
const std::string isrg_pem_path = std::string(TTIG_SOURCE_DIR) + "/certs/isrg-root-x1.pem";

std::string openssl(const std::string& args) {
    temp_dir d;
    const int rc = std::system(("openssl " + args + " >" + (d / "o").string() + " 2>/dev/null").c_str());
    REQUIRE(rc == 0);
    return slurp(d / "o");
}

std::uint32_t crc_of(const fs::path& dir, const char* set) {
    auto r = run_cli(fmt::format("creds crc {} --set {} --json", dir.string(), set));
    REQUIRE_MESSAGE(r.rc == 0, r.err);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["set"] == set);
    return j["crc"].get<std::uint32_t>();
}
}  // namespace

TEST_SUITE("cli.creds") {
    TEST_CASE("creds crc: the doc's vectors TV1, TV3, TV3b from files") {
        temp_dir d;
        CHECK(crc_of(d.path, "cups") == 2077607535u);  // TV3: no files at all
        write_file(d / "tc.trust", "LETS NOT ENCRYPT");
        CHECK(crc_of(d.path, "tc") == 0xCCAB121Fu);  // TV3b
        write_file(d / "tc.crt", "");
        write_file(d / "tc.key", "Authorization: token\r\n");
        CHECK(crc_of(d.path, "tc") == 0x97471391u);  // TV1: equals the TTS blob CRC
        auto plain = run_cli(fmt::format("creds crc {} --set tc", d.path.string()));
        CHECK(plain.rc == 0);
        CHECK(plain.out == "2538017681\n");
    }

    TEST_CASE("creds crc: PEM and DER trust of ISRG Root X1 (TV8), token and cert/key sets") {
        temp_dir d;
        const std::string pem = slurp(isrg_pem_path);
        const std::string der = openssl("x509 -in " + isrg_pem_path + " -outform DER");
        REQUIRE(der.size() == 1391);
        // DER trust only: TV8 trust-only set 0xF3398076
        write_file(d / "cups.trust", der);
        CHECK(crc_of(d.path, "cups") == 0xF3398076u);
        // + token: TV8 blob CRC 0xB0D1F790
        write_file(d / "cups.key", "Authorization: NNSXS.EXAMPLEKEY\r\n");
        CHECK(crc_of(d.path, "cups") == 0xB0D1F790u);
        // PEM trust: raw file bytes (differs from DER), checked against an independent bitwise CRC
        write_file(d / "cups.trust", pem);
        CHECK(crc_of(d.path, "cups") == reference_set_crc(pem, "", "Authorization: NNSXS.EXAMPLEKEY\r\n"));
        CHECK(crc_of(d.path, "cups") != 0xB0D1F790u);
        // An empty file counts like a missing one
        write_file(d / "cups.crt", "");
        CHECK(crc_of(d.path, "cups") == reference_set_crc(pem, "", "Authorization: NNSXS.EXAMPLEKEY\r\n"));
        // Mutual TLS: client certificate and key files (PEM), raw bytes
        temp_dir k;
        openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=router -days 2 -keyout " + (k / "key.pem").string() +
                " -out " + (k / "crt.pem").string());
        const std::string crt = slurp(k / "crt.pem"), key = slurp(k / "key.pem");
        write_file(d / "tc.trust", der);
        write_file(d / "tc.crt", crt);
        write_file(d / "tc.key", key);
        CHECK(crc_of(d.path, "tc") == reference_set_crc(der, crt, key));
    }

    TEST_CASE("creds build: writes the set a station holds after a TTS update, CRC = TV8") {
        temp_dir d;
        temp_dir s;
        write_file(s / "lns.key", "NNSXS.EXAMPLEKEY\n");
        auto r = run_cli(fmt::format("creds build {} --set tc --uri wss://eu1.cloud.thethings.network:8887 --trust {} --token-file {} --json",
                                     d.path.string(), isrg_pem_path, (s / "lns.key").string()));
        REQUIRE_MESSAGE(r.rc == 0, r.err);
        auto j = nlohmann::json::parse(r.out);
        CHECK(j["crc"] == 0xB0D1F790u);
        CHECK(j["auth"] == "token");
        CHECK(slurp(d / "tc.uri") == "wss://eu1.cloud.thethings.network:8887");
        CHECK(slurp(d / "tc.trust").size() == 1391);  // DER, as TTS delivers it
        CHECK(slurp(d / "tc.crt").empty());
        CHECK(slurp(d / "tc.key") == "Authorization: NNSXS.EXAMPLEKEY\r\n");
        struct stat st {};
        REQUIRE(::stat((d / "tc.key").c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        CHECK(crc_of(d.path, "tc") == 0xB0D1F790u);
        for (const auto& e : fs::directory_iterator(d.path)) CHECK(e.path().filename().string().find("temp") == std::string::npos);
        // The token never appears in output
        CHECK(r.out.find("EXAMPLEKEY") == std::string::npos);
        CHECK(r.err.find("EXAMPLEKEY") == std::string::npos);
        // A second build without --force is refused and changes nothing
        auto again = run_cli(fmt::format("creds build {} --set tc --uri wss://other:8887 --trust {} --token NNSXS.OTHER", d.path.string(),
                                         isrg_pem_path));
        CHECK(again.rc == 64);
        CHECK(again.err.find("[cli.would_overwrite]") != std::string::npos);
        CHECK(slurp(d / "tc.uri") == "wss://eu1.cloud.thethings.network:8887");
    }

    TEST_CASE("creds build: bad input gives one line, non-zero exit, and leaves nothing behind") {
        temp_dir d;
        temp_dir s;
        write_file(s / "bad.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
        struct bad_case {
            std::string args;
            int rc;
            std::string id;
        };
        const bad_case cases[] = {
            {fmt::format("--set tc --uri wss://h:8887 --trust {} --token K", (s / "bad.pem").string()), 8, "[pki."},
            {fmt::format("--set tc --uri wss://h:8887 --trust {} --token K", (s / "missing.pem").string()), 64, "[pki.unreadable]"},
            {fmt::format("--set tc --uri wss://h --trust {} --token K", isrg_pem_path), 2, "[cups.bad_uri]"},
            {fmt::format("--set cups --uri wss://h:443 --trust {} --token K", isrg_pem_path), 2, "[cups.bad_uri]"},
            {fmt::format("--set tc --uri wss://h:8887/ --trust {} --token K", isrg_pem_path), 2, "[cups.bad_uri]"},
            {fmt::format("--set tc --uri wss://h:8887 --trust {} --token 'bad header: x\nno colon'", isrg_pem_path), 64, "[station.bad_token]"},
        };
        for (const auto& c : cases) {
            CAPTURE(c.args);
            auto r = run_cli("creds build " + d.path.string() + " " + c.args);
            CHECK(r.rc == c.rc);
            CHECK(r.err.find(c.id) != std::string::npos);
            CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
            CHECK(fs::is_empty(d.path));
        }
        auto nodir = run_cli(fmt::format("creds crc {} --set cups", (d / "nope").string()));
        CHECK(nodir.rc == 8);
        CHECK(nodir.err.find("[station.not_a_directory]") != std::string::npos);
        auto badset = run_cli(fmt::format("creds crc {} --set lns", d.path.string()));
        CHECK(badset.rc >= 100);
    }

    TEST_CASE("creds inspect: reports sets, redacts tokens, names CRC traps") {
        temp_dir d;
        write_file(d / "cups.uri", "https://eu1.cloud.thethings.network:443\n");
        write_file(d / "cups.trust", slurp(isrg_pem_path));  // PEM: a CRC trap
        write_file(d / "cups.key", "Authorization: Bearer NNSXS.ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n");
        write_file(d / "tc.uri", "wss://eu1.cloud.thethings.network:8887/");  // a path: the station refuses it
        auto r = run_cli("creds inspect " + d.path.string() + " --json");
        REQUIRE_MESSAGE(r.rc == 0, r.err);
        CHECK(r.out.find("ABCDEFGHIJKLMNOP") == std::string::npos);
        auto j = nlohmann::json::parse(r.out);
        CHECK(j["cups"]["station_uses"] == "regular");
        CHECK(j["cups"]["regular"]["trust"]["subject"] == "CN=ISRG Root X1,O=Internet Security Research Group,C=US");
        CHECK(j["cups"]["regular"]["key"]["authorization"] == "NNSXS.ABCD…");
        CHECK(j["cups"]["regular"]["auth"] == "token");
        CHECK(j["cups"]["crc"] == reference_set_crc(slurp(isrg_pem_path), "", "Authorization: Bearer NNSXS.ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"));
        const std::string warnings = j["warnings"].dump();
        CHECK(warnings.find("cups.trust is PEM") != std::string::npos);
        CHECK(warnings.find("Bearer") != std::string::npos);
        CHECK(warnings.find("tc.uri: a station rejects this URI") != std::string::npos);
        auto text = run_cli("creds inspect " + d.path.string());
        CHECK(text.rc == 0);
        CHECK(text.out.find("NNSXS.ABCD…") != std::string::npos);
        CHECK(text.out.find("ABCDEFGHIJKLMNOP") == std::string::npos);
    }
}

TEST_SUITE("cli.eui") {
    TEST_CASE("eui --json gives the canonical forms") {
        auto r = run_cli("eui 58A0CB800001 --json");
        REQUIRE(r.rc == 0);
        auto j = nlohmann::json::parse(r.out);
        CHECK(j["eui"] == "58A0CBFFFE800001");
        CHECK(j["id6"] == "58a0:cbff:fe80:1");
        CHECK(j["ttig"] == true);
        auto bad = run_cli("eui 58A0-CB80:0001");
        CHECK(bad.rc == 64);
        CHECK(bad.err == "ttigctl eui: [eui.mixed_separators] EUI mixes '-' and ':' separators: '58A0-CB80:0001'\n");
        auto badj = run_cli("eui zz --json");
        CHECK(badj.rc == 64);
        CHECK(nlohmann::json::parse(badj.out)["error"]["id"] == "eui.bad_character");
    }
}

TEST_SUITE("cli.lab") {
    TEST_CASE("lab runs every step and exits 0") {
        auto r = run_cli("lab --json");
        CHECK_MESSAGE(r.rc == 0, r.out, r.err);
        std::size_t steps = 0;
        std::size_t start = 0;
        nlohmann::json last;
        std::set<std::string> names;
        while (start < r.out.size()) {
            auto end = r.out.find('\n', start);
            last = nlohmann::json::parse(r.out.substr(start, end - start));
            if (last.contains("step")) {
                ++steps;
                names.insert(last["name"].get<std::string>());
                CHECK_MESSAGE(last["ok"] == true, last.dump());
            }
            start = end + 1;
        }
        CHECK(steps >= 22);
        for (const char* n : {"doctor", "claim", "serve hand-over", "rotate", "fleet"}) CHECK_MESSAGE(names.count(n) == 1, n);
        CHECK(last["summary"]["failed"] == 0);
    }
}
