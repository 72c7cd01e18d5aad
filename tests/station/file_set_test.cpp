// Tests for the station layer: a Basics Station home directory (protocol doc §2.3-2.5, §3).
#include <doctest/doctest.h>

#include <ttig/pki/pem.hpp>
#include <ttig/proto/bytes.hpp>
#include <ttig/station/error.hpp>
#include <ttig/station/file_set.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>

using namespace ttig;
using station::category;
using station::cred_set;
using station::variant;
namespace fs = std::filesystem;

namespace {

// A fresh, empty directory removed at the end of the test.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<unsigned> counter{0};
        std::random_device rd;
        path = fs::temp_directory_path() / ("ttig-station-test-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(counter++) + "-" + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

void put(const fs::path& p, std::string_view content) {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
    REQUIRE(f.good());
}

std::string get(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), p.string());
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

// Files that are neither station files nor expected: our private temp files and station temp files.
std::set<std::string> temp_files(const fs::path& dir) {
    std::set<std::string> out;
    for (const auto& n : listing(dir))
        if (n.find(".ttig-tmp-") != std::string::npos || n.find("-temp.") != std::string::npos) out.insert(n);
    return out;
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

proto::bytes b(std::string_view s) { return proto::to_bytes(s); }

template <class T>
std::string id_of(const proto::result<T>& r) {
    return r ? std::string("ok") : r.err().id();
}

const std::string data_dir = std::string(TTIG_TEST_DATA_DIR) + "/pki/";

cred_set sample_set(std::string_view tag) {
    cred_set s;
    s.uri = "wss://" + std::string(tag) + ".example.com:8887";
    s.trust = b("\x30\x03trust-" + std::string(tag));
    s.crt = proto::bytes{};
    s.key = b("Authorization: Bearer NNSXS." + std::string(tag) + "\r\n");
    return s;
}

}  // namespace

TEST_SUITE("station") {
    TEST_CASE("station errors: ids are unique, prefixed, have messages and are listed in docs/errors.md") {
        std::ifstream in(std::string(TTIG_SOURCE_DIR) + "/docs/errors.md");
        REQUIRE(in.good());
        std::stringstream doc_text;
        doc_text << in.rdbuf();
        const std::string doc = doc_text.str();
        std::set<std::string> ids;
        for (const proto::table_category* cat : station::categories()) {
            CHECK(cat->domain() == "station");
            for (const auto& e : cat->entries()) {
                CAPTURE(e.name);
                CHECK_FALSE(e.message.empty());
                CHECK(ids.insert(cat->id(e.value)).second);
                CHECK(doc.find("| `" + cat->id(e.value) + "` |") != std::string::npos);
            }
        }
        for (const char* id : {"station.unreadable", "station.write_failed", "station.no_uri", "station.bad_uri",
                               "station.not_a_directory", "station.bad_token", "station.interrupted"})
            CHECK(ids.count(id) == 1);
    }

    TEST_CASE("§3.1 file and marker names") {
        CHECK(station::file_name(category::cups, variant::bak, "trust") == "cups-bak.trust");
        CHECK(station::file_name(category::tc, variant::regular, "uri") == "tc.uri");
        CHECK(station::file_name(category::tc, variant::temp, "key") == "tc-temp.key");
        CHECK(station::file_name(category::cups, variant::boot, station::ext_crt) == "cups-boot.crt");
        CHECK(station::marker_name(category::tc, station::marker_upd) == "tc-temp.upd");
        CHECK(station::marker_name(category::cups, station::marker_cpy) == "cups-temp.cpy");
        CHECK(station::marker_name(category::cups, station::marker_done) == "cups-bak.done");
        station::home h("/var/station");
        CHECK(h.path_of(category::cups, variant::boot, "uri") == fs::path("/var/station/cups-boot.uri"));
    }

    TEST_CASE("§2.4 / §6 TV3, TV3b, TV1: credential CRCs from files") {
        temp_dir d;
        station::home h(d.path);

        SUBCASE("TV3: no files at all") {
            CHECK(cred_set{}.crc() == 2077607535u);
            CHECK(h.cred_crc(category::tc).value() == 2077607535u);
            CHECK(h.cred_crc(category::cups).value() == proto::empty_set_crc);
        }
        SUBCASE("TV3b: trust only") {
            put(d.path / "tc.trust", "LETS NOT ENCRYPT");
            CHECK(h.cred_crc(category::tc).value() == 0xCCAB121Fu);
            CHECK(h.cred_crc(category::cups).value() == 2077607535u);
        }
        SUBCASE("TV1: trust, empty crt file, token key") {
            put(d.path / "tc.trust", "LETS NOT ENCRYPT");
            put(d.path / "tc.crt", "");
            put(d.path / "tc.key", "Authorization: token\r\n");
            CHECK(h.cred_crc(category::tc).value() == 0x97471391u);
            auto s = h.read(category::tc, variant::regular).value();
            CHECK(s.crt == proto::bytes{});  // present but empty
            CHECK_FALSE(s.uri.has_value());
            CHECK(s.auth_mode() == station::auth_mode::token);
        }
        SUBCASE("an empty file counts like a missing one, but read() tells them apart") {
            put(d.path / "cups.trust", "LETS NOT ENCRYPT");
            put(d.path / "cups.key", "Authorization: token\r\n");
            auto without = h.cred_crc(category::cups).value();
            auto s1 = h.read(category::cups, variant::regular).value();
            put(d.path / "cups.crt", "");
            CHECK(h.cred_crc(category::cups).value() == without);
            CHECK(without == 0x97471391u);
            auto s2 = h.read(category::cups, variant::regular).value();
            CHECK_FALSE(s1.crt.has_value());
            CHECK(s2.crt.has_value());
            CHECK_FALSE(s1 == s2);
            put(d.path / "cups.key", "");
            CHECK(h.cred_crc(category::cups).value() == 0xCCAB121Fu);
        }
        SUBCASE("only the regular set counts") {
            put(d.path / "tc-bak.trust", "LETS NOT ENCRYPT");
            put(d.path / "tc-temp.trust", "LETS NOT ENCRYPT");
            CHECK(h.cred_crc(category::tc).value() == 2077607535u);
        }
    }

    TEST_CASE("§6 TV8 / §6.1: PEM and DER trust of the same CA give different CRCs") {
        auto pem = pki::load_file(std::string(TTIG_SOURCE_DIR) + "/certs/isrg-root-x1.pem");
        REQUIRE(pem.has_value());
        auto der = pki::certificate_der(*pem);
        REQUIRE(der.has_value());
        temp_dir d;
        station::home h(d.path);
        std::string der_text(proto::as_chars(*der));
        put(d.path / "cups.trust", der_text);
        CHECK(h.cred_crc(category::cups).value() == 0xF3398076u);  // TV8 trust-only set
        put(d.path / "cups.crt", "");
        put(d.path / "cups.key", "Authorization: NNSXS.EXAMPLEKEY\r\n");
        CHECK(h.cred_crc(category::cups).value() == 0xB0D1F790u);  // TV8 blob CRC == station file CRC
        put(d.path / "cups.trust", std::string(proto::as_chars(*pem)));
        auto pem_crc = h.cred_crc(category::cups).value();
        CHECK(pem_crc != 0xB0D1F790u);
        CHECK(pem_crc == proto::station_cred_crc(*pem, {}, proto::as_bytes("Authorization: NNSXS.EXAMPLEKEY\r\n")));
    }

    TEST_CASE("§2.3 auth modes") {
        cred_set s;
        CHECK(s.auth_mode() == station::auth_mode::none);
        s.trust = proto::bytes{};
        s.key = b("Authorization: x\r\n");
        CHECK(s.auth_mode() == station::auth_mode::none);  // empty trust = no trust
        s.trust = b("T");
        CHECK(s.auth_mode() == station::auth_mode::token);
        s.crt = proto::bytes{};
        CHECK(s.auth_mode() == station::auth_mode::token);  // empty crt = no crt
        s.crt = b("C");
        CHECK(s.auth_mode() == station::auth_mode::mutual_tls);
        s.key = proto::bytes{};
        CHECK(s.auth_mode() == station::auth_mode::server_only);
        s.key.reset();
        CHECK(s.auth_mode() == station::auth_mode::server_only);
        s.crt.reset();
        CHECK(s.auth_mode() == station::auth_mode::server_only);
        CHECK(station::to_string(station::auth_mode::mutual_tls) == "mutual_tls");
    }

    TEST_CASE("reading: URI trimming, version.txt, sig keys") {
        temp_dir d;
        station::home h(d.path);
        SUBCASE("URI: trailing white space trimmed, leading kept, empty file present") {
            put(d.path / "tc.uri", "wss://lns.example.com:8887 \r\n\t\n");
            CHECK(h.read(category::tc, variant::regular)->uri == "wss://lns.example.com:8887");
            put(d.path / "tc.uri", " wss://x:1");
            CHECK(h.read(category::tc, variant::regular)->uri == " wss://x:1");
            put(d.path / "tc.uri", "\n");
            auto s = h.read(category::tc, variant::regular).value();
            CHECK(s.uri == "");
            CHECK(s.has_uri());
        }
        SUBCASE("version.txt") {
            CHECK(h.version_txt().value() == std::nullopt);
            put(d.path / "version.txt", "2.0.6-test\n");
            CHECK(h.version_txt().value() == "2.0.6-test");
        }
        SUBCASE("sig-N.key CRCs stop at the first gap") {
            CHECK(h.sig_key_crcs().value().empty());
            std::string k0(64, '\x11'), k1(64, '\x22');
            put(d.path / "sig-0.key", k0);
            put(d.path / "sig-1.key", k1);
            put(d.path / "sig-3.key", k1);
            auto crcs = h.sig_key_crcs().value();
            CHECK(crcs ==
                  std::vector<std::uint32_t>{proto::crc32(proto::as_bytes(k0)), proto::crc32(proto::as_bytes(k1))});
        }
        SUBCASE("errors: missing home, home is a file, unreadable part") {
            station::home missing(d.path / "nope");
            auto r = missing.read(category::tc, variant::regular);
            CHECK(id_of(r) == "station.not_a_directory");
            CHECK(r.err().detail.find("nope") != std::string::npos);
            CHECK(id_of(missing.commit_update(category::tc, sample_set("a"))) == "station.not_a_directory");
            put(d.path / "plain", "x");
            CHECK(id_of(station::home(d.path / "plain").cred_crc(category::cups)) == "station.not_a_directory");
            fs::create_directory(d.path / "tc.key");
            auto u = h.read(category::tc, variant::regular);
            CHECK(id_of(u) == "station.unreadable");
            CHECK(u.err().detail.find("tc.key") != std::string::npos);
        }
    }

    TEST_CASE("§3.4 set selection") {
        temp_dir d;
        station::home h(d.path);
        CHECK(id_of(h.cups_set()) == "station.no_uri");
        CHECK(id_of(h.tc_set()) == "station.no_uri");
        put(d.path / "cups-boot.uri", "https://boot:443");
        CHECK(h.cups_set()->which == variant::boot);
        CHECK(h.cups_set()->set.uri == "https://boot:443");
        put(d.path / "cups-bak.uri", "https://bak:443");
        put(d.path / "cups-bak.trust", "T");
        CHECK(h.cups_set()->which == variant::bak);
        CHECK(h.cups_set()->set.trust == b("T"));
        put(d.path / "cups.trust", "R");  // a regular set without a URI is skipped
        CHECK(h.cups_set()->which == variant::bak);
        put(d.path / "cups.uri", "");
        CHECK(h.cups_set()->which == variant::regular);
        put(d.path / "tc-bak.uri", "wss://bak:8887");
        CHECK(id_of(h.tc_set()) == "station.no_uri");  // TC always uses the regular set
        put(d.path / "tc.uri", "wss://lns:8887");
        CHECK(h.tc_set()->set.uri == "wss://lns:8887");
    }

    TEST_CASE("§3.2 commit_update: the TC update of §6.1") {
        temp_dir d;
        station::home h(d.path);
        put(d.path / "cups.uri", "https://cups:443");
        cred_set staged;
        staged.uri = "wss://127.0.0.1:19454";
        staged.trust = b("\x30\x82\x01\x8b-DER-CA");
        staged.crt = proto::bytes{};  // the blob's 4-zero "no cert" becomes an empty file
        staged.key = b("Authorization: Bearer NNSXS.TCKEY\r\n");
        REQUIRE(h.commit_update(category::tc, staged));

        CHECK(listing(d.path) == std::set<std::string>{"cups.uri", "tc.uri", "tc.trust", "tc.crt", "tc.key"});
        CHECK(get(d.path / "tc.uri") == "wss://127.0.0.1:19454");
        CHECK(get(d.path / "tc.crt").empty());
        CHECK(get(d.path / "tc.key") == "Authorization: Bearer NNSXS.TCKEY\r\n");
        CHECK(mode_of(d.path / "tc.key") == 0600);
        CHECK(mode_of(d.path / "tc.trust") == 0640);
        CHECK(mode_of(d.path / "tc.crt") == 0640);
        CHECK(mode_of(d.path / "tc.uri") == 0640);
        CHECK(h.read(category::tc, variant::regular).value() == staged);
        CHECK(h.cred_crc(category::tc).value() == staged.crc());
        CHECK(get(d.path / "cups.uri") == "https://cups:443");

        SUBCASE("a URI-only update leaves the credentials untouched") {
            cred_set uri_only;
            uri_only.uri = "wss://other:8887";
            REQUIRE(h.commit_update(category::tc, uri_only));
            auto now = h.read(category::tc, variant::regular).value();
            CHECK(now.uri == "wss://other:8887");
            CHECK(now.trust == staged.trust);
            CHECK(now.crt == proto::bytes{});
            CHECK(now.key == staged.key);
            CHECK(temp_files(d.path).empty());
        }
        SUBCASE("stale temp files of an earlier attempt are deleted, not committed") {
            put(d.path / "tc-temp.key", "Authorization: stale\r\n");
            put(d.path / "tc-temp.trust", "stale");
            cred_set uri_only;
            uri_only.uri = "wss://other:8887";
            REQUIRE(h.commit_update(category::tc, uri_only));
            CHECK(get(d.path / "tc.key") == "Authorization: Bearer NNSXS.TCKEY\r\n");
            CHECK(h.read(category::tc, variant::regular)->trust == staged.trust);
            CHECK(temp_files(d.path).empty());
        }
        SUBCASE("an empty staged set changes nothing") {
            auto before = listing(d.path);
            REQUIRE(h.commit_update(category::tc, cred_set{}));
            CHECK(listing(d.path) == before);
        }
        SUBCASE("bad URIs are refused before anything is written") {
            cred_set bad = sample_set("x");
            bad.uri = "";
            CHECK(id_of(h.commit_update(category::tc, bad)) == "station.bad_uri");
            bad.uri = "wss://a b:1";
            CHECK(id_of(h.commit_update(category::tc, bad)) == "station.bad_uri");
            bad.uri = "wss://a:1\n";
            CHECK(id_of(h.write_set(category::tc, variant::boot, bad)) == "station.bad_uri");
            CHECK(h.read(category::tc, variant::regular).value() == staged);
            CHECK(temp_files(d.path).empty());
        }
        SUBCASE("a directory in the way fails before the marker: nothing changes, no temp file") {
            fs::create_directory(d.path / "cups.key");
            auto r = h.commit_update(category::cups, sample_set("c"));
            CHECK(id_of(r) == "station.write_failed");
            CHECK(r.err().detail.find("cups.key") != std::string::npos);
            CHECK(temp_files(d.path).empty());
            CHECK(get(d.path / "cups.uri") == "https://cups:443");
            CHECK_FALSE(h.marker(category::cups, station::marker_upd));
        }
    }

    TEST_CASE("§3.2 recovery at start") {
        temp_dir d;
        station::home h(d.path);
        cred_set old_set = sample_set("old"), new_set = sample_set("new");
        REQUIRE(h.write_set(category::tc, variant::regular, old_set));

        SUBCASE("crash after the marker, one rename already done") {
            put(d.path / "tc.uri", *new_set.uri);  // renamed before the crash
            put(d.path / "tc-temp.trust", std::string(proto::as_chars(*new_set.trust)));
            put(d.path / "tc-temp.crt", "");
            put(d.path / "tc-temp.key", std::string(proto::as_chars(*new_set.key)));
            put(d.path / "tc-temp.upd", "");
            CHECK(h.marker(category::tc, station::marker_upd));
            REQUIRE(h.recover());
            CHECK(h.read(category::tc, variant::regular).value() == new_set);
            CHECK_FALSE(h.marker(category::tc, station::marker_upd));
            CHECK(temp_files(d.path).empty());
            REQUIRE(h.recover());  // idempotent
            CHECK(h.read(category::tc, variant::regular).value() == new_set);
        }
        SUBCASE("temp files without a marker are not applied") {
            put(d.path / "tc-temp.key", "Authorization: half-written\r\n");
            REQUIRE(h.recover());
            CHECK(h.read(category::tc, variant::regular).value() == old_set);
        }
        SUBCASE("commit_update first finishes a pending roll-forward") {
            put(d.path / "tc-temp.key", std::string(proto::as_chars(*new_set.key)));
            put(d.path / "tc-temp.upd", "");
            cred_set uri_only;
            uri_only.uri = "wss://third:8887";
            REQUIRE(h.commit_update(category::tc, uri_only));
            auto now = h.read(category::tc, variant::regular).value();
            CHECK(now.key == new_set.key);
            CHECK(now.uri == "wss://third:8887");
            CHECK(now.trust == old_set.trust);
            CHECK(temp_files(d.path).empty());
        }
        SUBCASE("an interrupted backup is redone, even with bak.done present") {
            put(d.path / "tc-bak.uri", "wss://stale:1");
            put(d.path / "tc-bak.crt", "stale crt");
            fs::remove(d.path / "tc.crt");
            put(d.path / "tc-bak.done", "");
            put(d.path / "tc-temp.cpy", "");
            REQUIRE(h.recover());
            cred_set expect = old_set;
            expect.crt.reset();
            CHECK(h.read(category::tc, variant::bak).value() == expect);
            CHECK(h.marker(category::tc, station::marker_done));
            CHECK_FALSE(h.marker(category::tc, station::marker_cpy));
            CHECK(mode_of(d.path / "tc-bak.key") == 0600);
        }
    }

    TEST_CASE("§3.3 backup happens once") {
        temp_dir d;
        station::home h(d.path);
        cred_set a = sample_set("a"), b_set = sample_set("b");
        REQUIRE(h.commit_update(category::cups, a));
        REQUIRE(h.backup(category::cups));
        CHECK(h.read(category::cups, variant::bak).value() == a);
        CHECK(h.marker(category::cups, station::marker_done));
        CHECK_FALSE(h.marker(category::cups, station::marker_cpy));
        CHECK(get(d.path / "cups-bak.done").empty());
        CHECK(mode_of(d.path / "cups-bak.key") == 0600);
        CHECK(mode_of(d.path / "cups-bak.trust") == 0640);

        REQUIRE(h.commit_update(category::cups, b_set));
        REQUIRE(h.backup(category::cups));
        CHECK(h.read(category::cups, variant::bak).value() == a);  // skipped: bak.done exists

        fs::remove(d.path / "cups-bak.done");
        cred_set no_key = b_set;
        fs::remove(d.path / "cups.key");
        no_key.key.reset();
        REQUIRE(h.backup(category::cups));
        CHECK(h.read(category::cups, variant::bak).value() == no_key);  // old cups-bak.key deleted
        CHECK(h.read(category::tc, variant::bak).value().empty());
        CHECK(temp_files(d.path).empty());
    }

    TEST_CASE("write_set: direct writes, modes independent of the umask") {
        temp_dir d;
        station::home h(d.path);
        mode_t old_mask = ::umask(0077);
        cred_set boot = sample_set("boot");
        auto r = h.write_set(category::cups, variant::boot, boot);
        ::umask(old_mask);
        REQUIRE(r);
        CHECK(h.read(category::cups, variant::boot).value() == boot);
        CHECK(mode_of(d.path / "cups-boot.key") == 0600);
        CHECK(mode_of(d.path / "cups-boot.trust") == 0640);
        CHECK(mode_of(d.path / "cups-boot.uri") == 0640);
        CHECK(temp_files(d.path).empty());

        cred_set key_only;
        key_only.key = b("Authorization: other\r\n");
        REQUIRE(h.write_set(category::cups, variant::boot, key_only));
        auto now = h.read(category::cups, variant::boot).value();
        CHECK(now.key == key_only.key);
        CHECK(now.uri == boot.uri);  // nullopt parts untouched

        REQUIRE(h.remove_set(category::cups, variant::boot));
        CHECK(h.read(category::cups, variant::boot).value().empty());
        CHECK(listing(d.path).empty());

        fs::create_directory(d.path / "cups-boot.key");
        auto fail = h.write_set(category::cups, variant::boot, boot);
        CHECK(id_of(fail) == "station.write_failed");
        CHECK(temp_files(d.path).empty());
        CHECK_FALSE(fs::exists(d.path / "cups-boot.uri"));  // nothing renamed before the check
    }

    TEST_CASE("injected I/O failures at every step: no temp file, old or new set, never a mix") {
        const cred_set old_set = sample_set("old");
        const cred_set new_set = sample_set("new");

        SUBCASE("commit_update") {
            int steps = 0;
            {
                temp_dir d;
                station::home h(d.path);
                REQUIRE(h.write_set(category::tc, variant::regular, old_set));
                station::detail::fail_io_at(0);
                REQUIRE(h.commit_update(category::tc, new_set));
                steps = station::detail::io_ops();
            }
            CHECK(steps >= 10);
            int write_failed = 0, interrupted = 0;
            for (int k = 1; k <= steps; ++k) {
                CAPTURE(k);
                temp_dir d;
                station::home h(d.path);
                REQUIRE(h.write_set(category::tc, variant::regular, old_set));
                station::detail::fail_io_at(k);
                auto r = h.commit_update(category::tc, new_set);
                station::detail::fail_io_at(0);
                REQUIRE_FALSE(r.has_value());
                if (r.err().id() == "station.write_failed") {
                    ++write_failed;
                    CHECK(r.err().detail.find("Input/output error") != std::string::npos);
                    CHECK(temp_files(d.path).empty());
                    CHECK(h.read(category::tc, variant::regular).value() == old_set);
                } else {
                    REQUIRE(r.err().id() == "station.interrupted");
                    ++interrupted;
                    CHECK(h.marker(category::tc, station::marker_upd));
                    REQUIRE(h.recover());
                    CHECK(h.read(category::tc, variant::regular).value() == new_set);
                    CHECK(temp_files(d.path).empty());
                }
                CHECK(mode_of(d.path / "tc.key") == 0600);
            }
            CHECK(write_failed > 0);
            CHECK(interrupted > 0);
        }
        SUBCASE("backup") {
            int steps = 0;
            {
                temp_dir d;
                station::home h(d.path);
                REQUIRE(h.write_set(category::cups, variant::regular, new_set));
                station::detail::fail_io_at(0);
                REQUIRE(h.backup(category::cups));
                steps = station::detail::io_ops();
            }
            CHECK(steps >= 8);
            for (int k = 1; k <= steps; ++k) {
                CAPTURE(k);
                temp_dir d;
                station::home h(d.path);
                REQUIRE(h.write_set(category::cups, variant::regular, new_set));
                REQUIRE(h.write_set(category::cups, variant::bak, old_set));
                station::detail::fail_io_at(k);
                auto r = h.backup(category::cups);
                station::detail::fail_io_at(0);
                REQUIRE_FALSE(r.has_value());
                if (r.err().id() == "station.write_failed") {
                    CHECK_FALSE(h.marker(category::cups, station::marker_cpy));
                    CHECK(h.read(category::cups, variant::bak).value() == old_set);
                } else {
                    REQUIRE(r.err().id() == "station.interrupted");
                    CHECK(h.marker(category::cups, station::marker_cpy));
                    REQUIRE(h.recover());
                    CHECK_FALSE(h.marker(category::cups, station::marker_cpy));
                }
                CHECK(temp_files(d.path).empty());
                REQUIRE(h.backup(category::cups));  // completes (or skips after recovery)
                CHECK(h.read(category::cups, variant::bak).value() == new_set);
                CHECK(h.marker(category::cups, station::marker_done));
            }
        }
        SUBCASE("write_set") {
            int steps = 0;
            {
                temp_dir d;
                station::detail::fail_io_at(0);
                REQUIRE(station::home(d.path).write_set(category::tc, variant::boot, new_set));
                steps = station::detail::io_ops();
            }
            CHECK(steps >= 8);
            for (int k = 1; k <= steps; ++k) {
                CAPTURE(k);
                temp_dir d;
                station::home h(d.path);
                station::detail::fail_io_at(k);
                auto r = h.write_set(category::tc, variant::boot, new_set);
                station::detail::fail_io_at(0);
                CHECK(id_of(r) == "station.write_failed");
                CHECK(temp_files(d.path).empty());
            }
        }
    }

    TEST_CASE("§2.5 normalise_token") {
        auto ok = [](std::string_view in) {
            auto r = station::normalise_token(in);
            REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.err().what()));
            return *r;
        };
        CHECK(ok("Authorization: token") == "Authorization: token\r\n");
        CHECK(ok("Authorization: token\n") == "Authorization: token\r\n");
        CHECK(ok("Authorization: token\r\n") == "Authorization: token\r\n");
        CHECK(ok("Authorization: token\r\n\r\n\n\n") == "Authorization: token\r\n");
        CHECK(ok("A: 1\nB-c_9: 2\r\nC: 3") == "A: 1\r\nB-c_9: 2\r\nC: 3\r\n");
        CHECK(ok("X-Empty: ") == "X-Empty: \r\n");
        CHECK(ok("Authorization: Bearer NNSXS.A.B: c") == "Authorization: Bearer NNSXS.A.B: c\r\n");

        // TV1: the normalised token as tc.key gives the blob CRC.
        auto key = ok("Authorization: token\n");
        CHECK(proto::station_cred_crc(proto::as_bytes("LETS NOT ENCRYPT"), {}, proto::as_bytes(key)) == 0x97471391u);

        struct bad_case {
            std::string_view text;
            int line;
        };
        for (const auto& c :
             {bad_case{"", 1}, bad_case{"\r\n\n", 1}, bad_case{"NNSXS.SECRETKEY", 1},
              bad_case{"Authorization:NNSXS.SECRETKEY", 1}, bad_case{"Authorization NNSXS.SECRETKEY", 1},
              bad_case{": NNSXS.SECRETKEY", 1}, bad_case{"Authorization:", 1},
              bad_case{"A: 1\n\nB: NNSXS.SECRETKEY", 2}, bad_case{"A: 1\nBad Name: NNSXS.SECRETKEY", 2},
              bad_case{"A: 1\r\nB: 2\nNNSXS.SECRETKEY\n", 3}}) {
            CAPTURE(c.text);
            auto r = station::normalise_token(c.text);
            REQUIRE_FALSE(r.has_value());
            CHECK(r.err().id() == "station.bad_token");
            if (!c.text.empty() && c.text != "\r\n\n")
                CHECK(r.err().detail.find("line " + std::to_string(c.line) + ":") == 0);
            CHECK(r.err().detail.find("SECRETKEY") == std::string::npos);  // never echo the secret
        }
        CHECK(station::normalise_token(std::string_view("A: b\0c", 6)).err().id() == "station.bad_token");
    }

}  // TEST_SUITE
