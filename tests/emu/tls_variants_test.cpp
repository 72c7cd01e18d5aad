// `emulate tts` TLS variants for constrained stations: a chain too long (long_chain) or too big
// (big_chain), both valid under the emulator's CA, probed over loopback with the net probe and
// with clients limited as a station's mbedTLS is (max_chain_depth, max_chain_bytes).
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/net/probe.hpp>
#include <ttig/pki/x509.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

using namespace ttig;
namespace asio = boost::asio;

namespace {

struct tls_variant_fixture {
    std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ttig-emu-tls-" + std::to_string(std::random_device{}()));
    asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};

    tls_variant_fixture() { std::filesystem::create_directories(dir); }
    ~tls_variant_fixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    proto::result<std::unique_ptr<emu::tts_emulator>> start(const std::string& scenario) {
        emu::emulator_config c;
        c.ca_dir = dir;
        c.state_path = ":memory:";
        const auto file = dir / "scenario.json";
        std::ofstream(file) << scenario;
        c.scenario_path = file.string();
        c.real_time_ticks = false;
        return emu::tts_emulator::start(ioc, clock, c);
    }
};

std::size_t total_bytes(const net::probe_report& r) {
    std::size_t n = 0;
    for (const auto& der : r.chain_der) n += der.size();
    return n;
}

}  // namespace

TEST_SUITE("emu.emulator") {
    TEST_CASE_FIXTURE(tls_variant_fixture, "emulate tts: long_chain and big_chain verify under the CA — a constrained client refuses them") {
        auto started = start(R"({
            "clusters": [{"name":"eu1","address":"eu1.cloud.thethings.network","identity_server":true},
                         {"name":"long","address":"long.example"},{"name":"long2","address":"long2.example"},
                         {"name":"big","address":"big.example"}],
            "tls": {"long":{"certificate":"long_chain"},"long2":{"certificate":"long_chain","chain_length":2},
                    "big":{"certificate":"big_chain","chain_bytes":24000}}})");
        REQUIRE_MESSAGE(started.has_value(), (started ? "" : started.err().what()));
        auto emu = std::move(*started);
        const auto cfg = emu->config_json();
        std::map<std::string, std::string> urls, lns;
        for (const auto& c : cfg["clusters"]) {
            urls[c["name"].get<std::string>()] = c["api_url"].get<std::string>();
            lns[c["name"].get<std::string>()] = c["lns_url"].get<std::string>();
        }
        REQUIRE(urls.size() == 4);

        // Probes run on their own io_context (blocking); the emulator's runs on a thread meanwhile.
        std::thread io([this] { ioc.run_for(std::chrono::seconds(20)); });
        net::probe_options po;
        po.client.tls.ca_pem = {emu->ca_pem()};
        po.client.tls.use_system_store = false;
        po.deadline = std::chrono::seconds(10);

        // The normal certificate is issued by the CA itself: no intermediate, so depth 0 suffices.
        auto constrained = po;
        constrained.client.tls.max_chain_depth = 0;
        auto eu1 = net::probe(urls["eu1"], constrained);
        CHECK(eu1.verify_ok);
        CHECK(eu1.chain_der.size() == 1);

        // long_chain: leaf + 4 intermediates by default, each issued by the next, the last by the CA.
        auto chain = net::probe(urls["long"], po);
        CHECK_MESSAGE(chain.verify_ok, (chain.verify_error ? chain.verify_error->what() : ""));
        REQUIRE(chain.chain_der.size() == 5);
        for (std::size_t i = 1; i < chain.chain_der.size(); ++i) {
            auto info = pki::inspect_certificate(chain.chain_der[i]);
            REQUIRE(info.has_value());
            CHECK(info->is_ca);
            CHECK(pki::inspect_certificate(chain.chain_der[i - 1])->issuer == info->subject);
        }
        CHECK(pki::inspect_certificate(chain.chain_der[4])->issuer == "CN=ttigctl emulated The Things Stack CA");
        // The LNS listener presents the same chain.
        auto lns_chain = net::probe(lns["long"], po);
        CHECK(lns_chain.verify_ok);
        CHECK(lns_chain.chain_der.size() == 5);
        // chain_length sets the number of intermediates.
        auto short_chain = net::probe(urls["long2"], po);
        CHECK(short_chain.verify_ok);
        CHECK(short_chain.chain_der.size() == 3);

        // A client that allows 4 intermediates accepts it; one that allows 3 refuses it.
        constrained.client.tls.max_chain_depth = 4;
        CHECK(net::probe(urls["long"], constrained).verify_ok);
        constrained.client.tls.max_chain_depth = 3;
        auto refused = net::probe(urls["long"], constrained);
        CHECK_FALSE(refused.verify_ok);
        REQUIRE(refused.verify_error.has_value());
        CHECK(refused.verify_error->id() == "tls.chain_too_long");
        CHECK(refused.chain_der.size() == 5);  // the probe still reports what was presented
        // A client that enforces verification (not the probe, which records and goes on) fails the handshake.
        {
            net::http_client client(constrained.client);
            proto::http_request req;
            req.method = "GET";
            req.target = "/api/v3/auth_info";
            auto res = client.request(req, net::request_options{urls["long"], std::chrono::seconds(10)});
            REQUIRE_FALSE(res.has_value());
            CHECK(res.err().id() == "tls.chain_too_long");
            CHECK(res.err().detail.find("certificate chain too long") != std::string::npos);
        }

        // big_chain: leaf + 1 (padded) intermediate, at least chain_bytes of DER, still valid.
        auto big = net::probe(urls["big"], po);
        CHECK_MESSAGE(big.verify_ok, (big.verify_error ? big.verify_error->what() : ""));
        CHECK(big.chain_der.size() == 2);
        CHECK(total_bytes(big) >= 24000);
        CHECK(total_bytes(big) < 24000 + 200);
        // A client whose certificate buffer is 16 KiB gives up during the handshake.
        auto small = po;
        small.client.tls.max_chain_bytes = 16384;
        auto too_big = net::probe(urls["big"], small);
        REQUIRE(too_big.error.has_value());
        CHECK(too_big.error->id() == "tls.chain_too_big");
        CHECK(too_big.failed_phase == "tls");
        // ... while the long chain (small certificates) fits in that buffer.
        CHECK(net::probe(urls["long"], small).verify_ok);

        ioc.stop();
        io.join();
        ioc.restart();
        emu->stop();
        ioc.run_for(std::chrono::milliseconds(50));
    }

    TEST_CASE_FIXTURE(tls_variant_fixture, "emulate tts: chain settings are checked") {
        auto r = start(R"({"tls": {"local":{"certificate":"rsa","chain_length":2}}})");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.err().id() == "emu.bad_scenario");
        CHECK(r.err().detail.find("chain_length") != std::string::npos);
        r = start(R"({"tls": {"local":{"certificate":"long_chain","chain_length":17}}})");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.err().detail.find("0 to 16") != std::string::npos);
        r = start(R"({"tls": {"local":{"certificate":"big_chain","chain_bytes":"big"}}})");
        REQUIRE_FALSE(r.has_value());
        CHECK(r.err().id() == "emu.bad_scenario");
    }
}
