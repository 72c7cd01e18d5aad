// `emulate tts` on loopback: REST, CUPS and LNS through real TLS and WebSocket connections,
// with the LNS timers on virtual time.
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/net/probe.hpp>
#include <ttig/net/ws_client.hpp>
#include <ttig/proto/lns.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

using namespace ttig;
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

namespace {

const char* tv6_hex =
    "001a7773733a2f2f6c6e732e6578616d706c652e636f6d3a3838383700002a004c455453204e4f5420454e435259505400000000417574686f"
    "72697a6174696f6e3a20746f6b656e0d0a000000000000000000000000";

struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("ttig-emu-" + std::to_string(std::random_device{}()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

struct emulator_fixture {
    temp_dir dir;
    asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};
    std::unique_ptr<emu::tts_emulator> emu;
    nlohmann::ordered_json cfg;
    std::unique_ptr<net::http_client> http;
    std::string admin;

    void start(std::string state_path = ":memory:", std::optional<std::string> scenario = std::nullopt) {
        emu::emulator_config c;
        c.ca_dir = dir.path;
        c.state_path = std::move(state_path);
        if (scenario) {
            const auto file = dir.path / "scenario.json";
            std::ofstream(file) << *scenario;
            c.scenario_path = file.string();
        }
        c.real_time_ticks = false;
        c.lns.seed = 7;
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        emu = std::move(*e);
        cfg = emu->config_json();
        admin = cfg["admin_api_key"].get<std::string>();
        net::client_config cc;
        cc.tls.ca_pem = {emu->ca_pem()};
        cc.tls.use_system_store = false;
        http = std::make_unique<net::http_client>(ioc.get_executor(), cc);
    }
    void stop() {
        http.reset();
        if (emu) emu->stop();
        emu.reset();
        ioc.run_for(std::chrono::milliseconds(50));
        ioc.restart();  // run_for() left it stopped once out of work
    }
    ~emulator_fixture() { stop(); }

    net::client_config client_cfg() const {
        net::client_config cc;
        cc.tls.ca_pem = {emu->ca_pem()};
        cc.tls.use_system_store = false;
        return cc;
    }

    // Runs a test coroutine to completion on the shared io_context.
    template <class F>
    void run(F&& f) {
        bool done = false;
        std::exception_ptr failure;
        asio::co_spawn(ioc, std::forward<F>(f)(), [&](std::exception_ptr e) {
            failure = e;
            done = true;
        });
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (!done && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(std::chrono::milliseconds(100));
        REQUIRE_MESSAGE(done, "test coroutine did not finish in 60 s");
        if (failure) std::rethrow_exception(failure);
    }

    // Not a coroutine itself: the request is built here and only the client's awaitable returned.
    // Arguments are views: GCC 12 also double-destroys std::string temporaries that live across a
    // co_await in the calling coroutine.
    awaitable<net::response_result> rest(std::string_view method, std::string_view target, std::string_view body = {},
                                         std::string_view key = {}) {
        proto::http_request r;
        r.method = std::string(method);
        r.target = std::string(target);
        r.body = std::string(body);
        r.headers.set("Authorization", "Bearer " + (key.empty() ? admin : std::string(key)));
        if (!r.body.empty()) r.headers.set("Content-Type", "application/json");
        return http->async_request(std::move(r), net::request_options{cfg["api_url"].get<std::string>()}, use_awaitable);
    }
};

}  // namespace

TEST_SUITE("emu.emulator") {
    TEST_CASE_FIXTURE(emulator_fixture, "emulate tts: REST, CUPS, discovery and traffic on loopback — the re-read drops a revoked key") {
        start();
        run([&]() -> awaitable<void> {
            auto created = co_await rest("POST", "/api/v3/users/admin/gateways",
                                         R"({"gateway":{"ids":{"gateway_id":"ttig-1","eui":"58A0CBFFFE123456"},"frequency_plan_ids":["EU_863_870_TTN"],
                                             "gateway_server_address":"wss://lns.example.com:8887"}})");
            REQUIRE_MESSAGE(created->status == 200, created->body);
            auto lns_key_res = co_await rest("POST", "/api/v3/gateways/ttig-1/api-keys", R"({"name":"lns","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_LINK"]})");
            REQUIRE(lns_key_res->status == 200);
            const auto lns_key_json = nlohmann::json::parse(lns_key_res->body);
            const std::string lns_key = lns_key_json["key"].get<std::string>();
            const std::string lns_key_id = lns_key_json["id"].get<std::string>();

            // REST shape as tts-api.md §4.1 shows it
            auto got = co_await rest("GET", "/api/v3/gateways/ttig-1?field_mask=frequency_plan_ids");
            CHECK(got->status == 200);
            CHECK(got->headers.get("Content-Length").has_value());
            auto gj = nlohmann::json::parse(got->body);
            CHECK(gj["ids"]["gateway_id"] == "ttig-1");
            CHECK(gj["ids"]["eui"] == "58A0CBFFFE123456");
            CHECK(gj["frequency_plan_ids"] == nlohmann::json::array({"EU_863_870_TTN"}));

            // CUPS over TLS: an unknown gateway is TTS's 404 with a tab-indented body
            proto::http_request cr;
            cr.method = "POST";
            cr.target = "/update-info";
            cr.body = R"({"router":"58a0:cbff:fe12:3457","cupsUri":null,"tcUri":null,"cupsCredCrc":0,"tcCredCrc":0,"station":"","model":"","package":null,"keys":[]})";
            cr.headers.set("Content-Type", "application/json");
            const net::request_options cups_opts{cfg["cups_url"].get<std::string>()};
            auto cres = co_await http->async_request(cr, cups_opts, use_awaitable);
            REQUIRE(cres.has_value());
            CHECK(cres->status == 404);
            CHECK(cres->body.starts_with("{\n\t\"code\": 5,"));

            // Discovery: the LNS key authorises, TTS answers with the traffic URI on the same host
            const std::string lns_url = cfg["lns_url"].get<std::string>();
            const std::string hostport = lns_url.substr(6);
            net::ws_client disc(ioc.get_executor(), client_cfg());
            net::ws_connect_options wo;
            wo.headers = {"Authorization: " + lns_key};
            const std::string disc_url = lns_url + "/router-info";
            auto up = co_await disc.async_connect(disc_url, wo, use_awaitable);
            REQUIRE_MESSAGE(up.has_value(), (up ? "" : up.err().what()));
            const std::string discovery_message = R"({"router":"58a0:cbff:fe12:3456"})";
            auto sent = co_await disc.async_send_text(discovery_message, use_awaitable);
            CHECK(sent.has_value());
            auto reply = co_await disc.async_read(std::chrono::seconds(5), use_awaitable);
            REQUIRE(reply.has_value());
            CHECK(reply->data == fmt::format(R"({{"router":"58a0:cbff:fe12:3456","muxs":"muxs-::0","uri":"wss://{}/traffic/eui-58A0CBFFFE123456"}})", hostport));
            auto after = co_await disc.async_read(std::chrono::seconds(5), use_awaitable);
            CHECK_FALSE(after.has_value());  // TTS closes the TCP connection after its one reply

            // Traffic: version -> router_config for EU_863_870_TTN
            net::ws_client traffic(ioc.get_executor(), client_cfg());
            const std::string traffic_url = lns_url + "/traffic/eui-58A0CBFFFE123456";
            auto tup = co_await traffic.async_connect(traffic_url, wo, use_awaitable);
            REQUIRE_MESSAGE(tup.has_value(), (tup ? "" : tup.err().what()));
            const std::string version_message = R"j({"msgtype":"version","station":"2.0.6(minihub/std)","firmware":null,"package":null,"model":"minihub","protocol":2,"features":"rmtsh prod"})j";
            co_await traffic.async_send_text(version_message, use_awaitable);
            auto rc = co_await traffic.async_read(std::chrono::seconds(5), use_awaitable);
            REQUIRE(rc.has_value());
            auto decoded = proto::decode_router_config(rc->data);
            REQUIRE_MESSAGE(decoded.has_value(), rc->data);
            CHECK(decoded->region == "EU863");
            CHECK(rc->data.find(R"("nocca")") == std::string::npos);  // production station
            auto stats = co_await rest("GET", "/api/v3/gs/gateways/ttig-1/connection/stats");
            CHECK_MESSAGE(stats->status == 200, stats->body);
            CHECK(nlohmann::json::parse(stats->body).contains("connected_at"));

            // A refused upgrade: a key without LINK gets TTS's 403 before the 101
            auto weak = co_await rest("POST", "/api/v3/gateways/ttig-1/api-keys", R"({"name":"info","rights":["RIGHT_GATEWAY_INFO"]})");
            net::ws_client refused(ioc.get_executor(), client_cfg());
            net::ws_connect_options wk;
            wk.headers = {"Authorization: " + nlohmann::json::parse(weak->body)["key"].get<std::string>()};
            auto r403 = co_await refused.async_connect(traffic_url, wk, use_awaitable);
            CHECK_FALSE(r403.has_value());
            REQUIRE(refused.handshake_response().has_value());
            CHECK(refused.handshake_response()->status == 403);
            // the key has INFO but not LINK: insufficient (a key without any right would be no_gateway_rights)
            CHECK(refused.handshake_response()->body.find("pkg/auth/rights:insufficient_gateway_rights") != std::string::npos);

            // The LNS key is deleted; the periodic re-read (10 min ± 20 %) drops the session once
            // the rights cache (2 min) has expired.
            const std::string del_target = "/api/v3/gateways/ttig-1/api-keys/" + lns_key_id;
            auto del = co_await rest("PUT", del_target, R"({"api_key":{"rights":[]},"field_mask":{"paths":["rights"]}})");
            CHECK_MESSAGE(del->status == 200, del->body);
            clock.advance(std::chrono::minutes(13));
            emu->tick();
            auto dropped = co_await traffic.async_read(std::chrono::seconds(5), use_awaitable);
            CHECK_FALSE(dropped.has_value());
            auto stats2 = co_await rest("GET", "/api/v3/gs/gateways/ttig-1/connection/stats");
            CHECK_MESSAGE(nlohmann::json::parse(stats2->body).contains("disconnected_at"), stats2->body);
            co_return;
        });
    }

    TEST_CASE_FIXTURE(emulator_fixture, "emulate tts: CUPS answers a station's request over TLS with TV6's bytes") {
        start();
        run([&]() -> awaitable<void> {
            // lns.example.com is not served here: TTS could not fetch its trust. Use the
            // emulator's own name for the address and compare the layout around the blob.
            co_await rest("POST", "/api/v3/users/admin/gateways",
                          R"({"gateway":{"ids":{"gateway_id":"ttig-1","eui":"58A0CBFFFE123456"},"frequency_plan_ids":["EU_863_870_TTN"],
                              "gateway_server_address":"wss://localhost:8887","lbs_lns_secret":{"value":"dG9rZW4="}}})");
            auto key = co_await rest("POST", "/api/v3/gateways/ttig-1/api-keys",
                                     R"({"name":"cups","rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_SETTINGS_BASIC","RIGHT_GATEWAY_READ_SECRETS"]})");
            const std::string cups_key = nlohmann::json::parse(key->body)["key"].get<std::string>();
            proto::http_request cr;
            cr.method = "POST";
            cr.target = "/update-info";
            cr.body = R"({"router":"58a0:cbff:fe12:3456","cupsUri":"https://localhost:443","tcUri":null,"cupsCredCrc":0,"tcCredCrc":2077607535,"station":"2.0.6(minihub/std) 2024-05-01 12:00:00","model":"minihub","package":null,"keys":[]})";
            cr.headers.set("Content-Type", "application/json");
            cr.headers.set("Authorization", cups_key);
            const net::request_options cups_opts{cfg["cups_url"].get<std::string>()};
            auto res = co_await http->async_request(cr, cups_opts, use_awaitable);
            REQUIRE(res.has_value());
            REQUIRE_MESSAGE(res->status == 200, res->body);
            const std::string& b = res->body;
            // cupsUriLen 0 | tcUriLen 21 "wss://localhost:8887" ... | cupsCredLen 0 | tcCredLen | blob | 12 zero bytes
            const std::string uri = "wss://localhost:8887";
            REQUIRE(b.size() > 2 + uri.size() + 4 + 12);
            CHECK(b[0] == 0);
            CHECK(static_cast<unsigned char>(b[1]) == uri.size());
            CHECK(b.substr(2, uri.size()) == uri);
            const std::size_t blob_len = static_cast<unsigned char>(b[4 + uri.size()]) | static_cast<unsigned char>(b[5 + uri.size()]) << 8;
            const std::string blob = b.substr(6 + uri.size(), blob_len);
            const std::string ca_der_head = "\x30\x82";
            CHECK(blob.starts_with(ca_der_head));
            CHECK(blob.ends_with(std::string("\0\0\0\0", 4) + "Authorization: token\r\n"));
            CHECK(b.substr(6 + uri.size() + blob_len) == std::string(12, '\0'));
            (void)tv6_hex;
            co_return;
        });
    }

    TEST_CASE_FIXTURE(emulator_fixture, "emulate tts: --state keeps gateways and keys across a restart") {
        const std::string db = (dir.path / "state.db").string();
        start(db);
        std::string key;
        run([&]() -> awaitable<void> {
            co_await rest("POST", "/api/v3/users/admin/gateways", R"({"gateway":{"ids":{"gateway_id":"kept","eui":"58A0CBFFFE000001"},"frequency_plan_ids":["EU_863_870_TTN"]}})");
            auto k = co_await rest("POST", "/api/v3/gateways/kept/api-keys", R"({"name":"reader","rights":["RIGHT_GATEWAY_INFO"]})");
            key = nlohmann::json::parse(k->body)["key"].get<std::string>();
            co_return;
        });
        stop();
        start(db);
        run([&]() -> awaitable<void> {
            auto g = co_await rest("GET", "/api/v3/gateways/kept?field_mask=frequency_plan_ids", {}, key);
            CHECK_MESSAGE(g->status == 200, g->body);
            CHECK(nlohmann::json::parse(g->body)["ids"]["eui"] == "58A0CBFFFE000001");
            co_return;
        });
    }

    TEST_CASE_FIXTURE(emulator_fixture, "emulate tts: TLS faults per cluster and run-time faults through the control endpoint") {
        start(":memory:", R"({
            "clusters": [{"name":"eu1","address":"eu1.cloud.thethings.network","identity_server":true},
                         {"name":"old","address":"old.example"},{"name":"wrong","address":"wrong.example"},
                         {"name":"stranger","address":"stranger.example"},{"name":"rsa","address":"rsa.example"}],
            "tls": {"old":{"certificate":"expired"},"wrong":{"certificate":"wrong_host"},
                    "stranger":{"certificate":"unknown_ca"},"rsa":{"certificate":"rsa","max_version":"1.2"}}})");
        std::map<std::string, std::string> urls;
        for (const auto& c : cfg["clusters"]) urls[c["name"].get<std::string>()] = c["api_url"].get<std::string>();
        REQUIRE(urls.size() == 5);
        // Probes run on their own io_context (blocking); the emulator's runs on a thread meanwhile.
        std::thread io([this] { ioc.run_for(std::chrono::seconds(10)); });
        net::probe_options po;
        po.client = client_cfg();
        po.deadline = std::chrono::seconds(5);
        auto good = net::probe(urls["eu1"], po);
        CHECK(good.verify_ok);
        auto expired = net::probe(urls["old"], po);
        REQUIRE(expired.verify_error.has_value());
        CHECK(expired.verify_error->id() == "tls.expired");
        CHECK_FALSE(expired.chain_der.empty());  // the chain is reported although verification failed
        auto wrong = net::probe(urls["wrong"], po);
        REQUIRE(wrong.verify_error.has_value());
        CHECK(wrong.verify_error->id() == "tls.hostname_mismatch");
        auto stranger = net::probe(urls["stranger"], po);
        REQUIRE(stranger.verify_error.has_value());
        CHECK(stranger.verify_error->id() == "tls.unknown_ca");
        auto rsa = net::probe(urls["rsa"], po);
        CHECK(rsa.verify_ok);
        CHECK(rsa.tls_version == "TLSv1.2");
        ioc.stop();
        io.join();
        ioc.restart();

        run([&]() -> awaitable<void> {
            co_await rest("POST", "/api/v3/users/admin/gateways", R"({"gateway":{"ids":{"gateway_id":"faulty","eui":"58A0CBFFFE000009"}}})");
            auto ok = co_await rest("GET", "/api/v3/gateways/faulty");
            CHECK(ok->status == 200);
            const std::string faults = R"({"faults":[{"rpc":"GatewayRegistry.Get","error_ratio":1,"error":"pkg/util/store:database_unavailable"}]})";
            proto::http_request set;
            set.method = "POST";
            set.target = "/emu/v1/faults";
            set.body = faults;
            set.headers.set("Authorization", "Bearer " + admin);
            const net::request_options api{cfg["api_url"].get<std::string>()};
            auto applied = co_await http->async_request(set, api, use_awaitable);
            REQUIRE(applied.has_value());
            CHECK_MESSAGE(applied->status == 200, applied->body);
            auto failing = co_await rest("GET", "/api/v3/gateways/faulty");
            CHECK(failing->status == 503);
            CHECK(failing->body.find("database_unavailable") != std::string::npos);
            // the control endpoint refuses anyone but the admin
            set.headers.set("Authorization", "Bearer NNSXS.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
            auto refused = co_await http->async_request(set, api, use_awaitable);
            CHECK(refused->status == 403);
            co_return;
        });
    }
}
