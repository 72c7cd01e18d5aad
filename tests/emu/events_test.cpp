// The events stream of `emulate tts` (tts-api.md §4.11): POST /api/v3/events on loopback over
// TLS, with the LNS timers on virtual time. Expected statuses, error names and JSON shapes are the
// document's literals.
#include <ttig/emu/events.hpp>
#include <ttig/emu/tts_emulator.hpp>
#include <ttig/net/http_client.hpp>
#include <ttig/net/ws_client.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <fstream>
#include <random>

using namespace ttig;
namespace asio = boost::asio;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string token(const std::string& id_seed, const std::string& secret_seed) {
    auto pad = [](std::string s, std::size_t n, char c) {
        s.resize(n, c);
        return s;
    };
    return "NNSXS." + pad(id_seed, 39, 'A') + "." + pad(secret_seed, 52, 'B');
}
std::string key_id(const std::string& tok) { return tok.substr(6, 39); }

const std::string alice_tok = token("ALICE", "ALICESECRET");            // alice, RIGHT_ALL
const std::string alice_status_tok = token("STATUS", "STATUSSECRET");   // alice, RIGHT_GATEWAY_STATUS_READ
const std::string bob_tok = token("BOB", "BOBSECRET");                  // bob, RIGHT_ALL (no rights on office-ttig)
const std::string lns_tok = token("OFFICELNS", "LNSSECRET");            // office-ttig's key: INFO + LINK

json scenario() {
    return {
        {"options", {{"pbkdf2_iterations", 10}}},
        {"users", {{{"user_id", "admin"}, {"admin", true}}, {{"user_id", "alice"}}, {{"user_id", "bob"}}}},
        {"gateways",
         {{{"gateway", {{"ids", {{"gateway_id", "office-ttig"}, {"eui", "58A0CBFFFE801234"}}}, {"frequency_plan_ids", {"EU_863_870_TTN"}}}},
           {"owner", {{"user_id", "alice"}}}},
          {{"gateway", {{"ids", {{"gateway_id", "bob-gw"}}}}}, {"owner", {{"user_id", "bob"}}}}}},
        {"api_keys",
         {{{"owner", {{"user_id", "alice"}}}, {"key", alice_tok}, {"name", "alice"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", alice_status_tok}, {"name", "status"}, {"rights", {"RIGHT_GATEWAY_STATUS_READ"}}},
          {{"owner", {{"user_id", "bob"}}}, {"key", bob_tok}, {"name", "bob"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"gateway_id", "office-ttig"}}}, {"key", lns_tok}, {"name", "lns"}, {"rights", {"RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_LINK"}}}}},
    };
}

// One events stream read by the test: the raw body and its messages as they arrive.
struct reader {
    std::string data;
    std::vector<json> messages;
    std::optional<net::stream_result> done;
    std::function<bool(const reader&)> stop;  // true: close the stream
    std::string delimiter = "\n";

    bool has(std::string_view name) const {
        for (const auto& m : messages)
            if (m.contains("result") && m["result"].value("name", "") == name) return true;
        return false;
    }
    const json& event(std::string_view name) const {
        for (const auto& m : messages)
            if (m.contains("result") && m["result"].value("name", "") == name) return m["result"];
        static const json none;
        return none;
    }
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& m : messages)
            if (m.contains("result")) out.push_back(m["result"].value("name", ""));
        return out;
    }
};

struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() / ("ttig-events-" + std::to_string(std::random_device{}()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

struct fixture {
    temp_dir dir;
    asio::io_context ioc;
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};
    std::unique_ptr<emu::tts_emulator> emu;
    json cfg;
    std::unique_ptr<net::http_client> http;

    fixture() {
        const auto file = dir.path / "scenario.json";
        std::ofstream(file) << scenario().dump();
        emu::emulator_config c;
        c.ca_dir = dir.path;
        c.scenario_path = file.string();
        c.real_time_ticks = false;
        c.lns.seed = 7;
        auto e = emu::tts_emulator::start(ioc, clock, c);
        REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.err().what()));
        emu = std::move(*e);
        cfg = json::parse(emu->config_json().dump());
        http = std::make_unique<net::http_client>(ioc.get_executor(), client_cfg());
    }
    ~fixture() {
        http.reset();
        emu->stop();
        ioc.run_for(50ms);
    }

    net::client_config client_cfg() const {
        net::client_config cc;
        cc.tls.ca_pem = {emu->ca_pem()};
        cc.tls.use_system_store = false;
        return cc;
    }

    template <class Pred>
    bool run_until(Pred done, std::chrono::milliseconds limit = 20s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() >= end) return false;
            if (ioc.stopped()) ioc.restart();
            ioc.run_one_for(5ms);
        }
        return true;
    }

    proto::http_response rest(std::string method, std::string target, std::string body, const std::string& key) {
        proto::http_request r;
        r.method = std::move(method);
        r.target = std::move(target);
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + key);
        std::optional<net::response_result> out;
        http->async_request(std::move(r), net::request_options{cfg["api_url"].get<std::string>()}, [&](net::response_result x) { out.emplace(std::move(x)); });
        REQUIRE(run_until([&] { return out.has_value(); }));
        REQUIRE_MESSAGE(out->has_value(), out->err().what());
        return std::move(**out);
    }

    // Opens POST /api/v3/events with `body`; messages land in rd as they arrive.
    void open(reader& rd, std::string body, const std::string& key, bool sse = false) {
        proto::http_request r;
        r.method = "POST";
        r.target = "/api/v3/events";
        r.body = std::move(body);
        r.headers.set("Authorization", "Bearer " + key);
        r.headers.set("Content-Type", "application/json");
        if (sse) {
            r.headers.set("Accept", "text/event-stream");
            rd.delimiter = "\n\n";
        }
        net::stream_options o;
        o.base_url = cfg["api_url"].get<std::string>();
        o.deadline = 20s;
        o.on_data = [&rd](std::string_view d) {
            rd.data.append(d);
            rd.messages.clear();
            std::size_t start = 0;
            for (auto nl = rd.data.find('\n'); nl != std::string::npos; nl = rd.data.find('\n', start)) {
                const auto line = rd.data.substr(start, nl - start);
                start = nl + 1;
                if (!line.empty()) rd.messages.push_back(json::parse(line));
            }
            return !(rd.stop && rd.stop(rd));
        };
        http->async_request_stream(std::move(r), o, [&rd](net::stream_result x) { rd.done.emplace(std::move(x)); });
    }

    // A refused stream: the whole (chunked) error answer.
    net::streamed_response refused(std::string body, const std::string& key) {
        reader rd;
        open(rd, std::move(body), key);
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        REQUIRE(rd.done->has_value());
        return **rd.done;
    }
};

void check_stream_error(const net::streamed_response& r, int status, int code, const std::string& ns, const std::string& name) {
    INFO(r.response.body);
    CHECK(r.complete);
    CHECK(r.response.status == status);
    CHECK(r.response.headers.get("Transfer-Encoding") == "chunked");
    CHECK(r.response.headers.get("Content-Type") == "application/json");
    CHECK(r.response.body.ends_with("}\n"));
    const json j = json::parse(r.response.body);
    REQUIRE(j.contains("error"));  // the `error` wrapper of stream errors
    CHECK(j.size() == 1);
    CHECK(j["error"]["code"] == code);
    CHECK(j["error"]["message"].get<std::string>().starts_with("error:" + ns + ":" + name + " ("));
    CHECK(j["error"]["details"][0]["@type"] == "type.googleapis.com/ttn.lorawan.v3.ErrorDetails");
    CHECK(j["error"]["details"][0]["namespace"] == ns);
    CHECK(j["error"]["details"][0]["name"] == name);
}

const std::string office = R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}]})";

}  // namespace

TEST_SUITE("emu.events") {
    TEST_CASE("names_from_patterns as pkg/events resolves them") {
        const std::vector<std::string> p1{"gs.gateway.connect", "/^gateway\\.update$/", "gs.gateway.connect"};
        auto r = emu::names_from_patterns(p1);
        REQUIRE(r.has_value());
        CHECK(*r == std::vector<std::string>{"gateway.update", "gs.gateway.connect"});
        const std::vector<std::string> none;
        CHECK(emu::names_from_patterns(none)->empty());
        const std::vector<std::string> gw{"/^gateway\\./"};
        CHECK(emu::names_from_patterns(gw)->size() == 11);
        const std::vector<std::string> unknown{"gs.gateway.connect", "gs.nope"};
        auto u = emu::names_from_patterns(unknown);
        REQUIRE_FALSE(u.has_value());
        CHECK(u.err().full_name() == "pkg/events:unknown_event_name");
        CHECK(u.err().message_format == "unknown event `{name}`");
        CHECK(u.err().attributes["name"] == "gs.nope");
        CHECK(u.err().message() == "unknown event `gs.nope`");
        const std::vector<std::string> nomatch{"/^as\\./"};
        auto n = emu::names_from_patterns(nomatch);
        REQUIRE_FALSE(n.has_value());
        CHECK(n.err().full_name() == "pkg/events:no_matching_events");
        CHECK(n.err().attributes["regexp"] == "^as\\.");
        const std::vector<std::string> bad{"/(/"};
        CHECK(emu::names_from_patterns(bad).err().full_name() == "pkg/events:invalid_regexp");
    }

    TEST_CASE("event bus: ULIDs, the store's tail/after replay, visibility") {
        proto::manual_clock clock{proto::time_point{std::chrono::seconds{1725955920}}};  // 2024-09-10T08:12:00Z
        emu::event_bus bus(clock, 3);
        const auto id = bus.new_id();
        CHECK(id.size() == 26);
        CHECK(id.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
        CHECK(id.starts_with("01J7"));  // the 48-bit millisecond time of 2024-09-10
        for (int i = 0; i < 4; ++i) {
            emu::event e;
            e.name = i % 2 ? "gs.status.receive" : "gateway.update";
            e.gateway("gw1");
            bus.publish(std::move(e));
            clock.advance(2s);
        }
        CHECK(bus.stored().size() == 3);  // bounded
        emu::event_filter f;
        f.identifiers = {emu::entity_ref::gateway("gw1")};
        f.gateway_rights["gw1"] = emu::rights{emu::right::gateway_status_read};
        std::vector<std::string> seen;
        const auto sub = bus.subscribe(f, 2, std::nullopt, [&](const emu::event& e) { seen.push_back(e.name); });
        // the last two stored: gateway.update (invisible with STATUS_READ) and gs.status.receive
        CHECK(seen == std::vector<std::string>{"gs.status.receive"});
        bus.unsubscribe(sub);
        seen.clear();
        f.gateway_rights["gw1"] = emu::rights{emu::right::gateway_all};  // implies INFO and STATUS_READ
        (void)bus.subscribe(f, 0, clock.now() - 3s, [&](const emu::event& e) { seen.push_back(e.name); });
        CHECK(seen == std::vector<std::string>{"gs.status.receive"});  // only the event after `after`
        emu::event other;
        other.name = "gs.gateway.connect";
        other.gateway("gw2");
        bus.publish(std::move(other));
        CHECK(seen.size() == 1);  // another gateway
    }

    TEST_CASE_FIXTURE(fixture, "stream errors per the §4.11 table, in the error wrapper") {
        SUBCASE("identifiers empty: 400 pkg/events/grpc:no_identifiers") {
            check_stream_error(refused(R"({"identifiers":[]})", alice_tok), 400, 3, "pkg/events/grpc", "no_identifiers");
        }
        SUBCASE("unknown exact name: 400 pkg/events:unknown_event_name (attr name)") {
            auto r = refused(R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"names":["gs.gateway.connect","gs.nope"]})", alice_tok);
            check_stream_error(r, 400, 3, "pkg/events", "unknown_event_name");
            CHECK(json::parse(r.response.body)["error"]["details"][0]["attributes"]["name"] == "gs.nope");
        }
        SUBCASE("regex matching nothing: 400 pkg/events:no_matching_events (attr regexp)") {
            auto r = refused(R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"names":["/^as\\./"]})", alice_tok);
            check_stream_error(r, 400, 3, "pkg/events", "no_matching_events");
            CHECK(json::parse(r.response.body)["error"]["details"][0]["attributes"]["regexp"] == "^as\\.");
        }
        SUBCASE("invalid regex: 400 pkg/events:invalid_regexp") {
            check_stream_error(refused(R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"names":["/(/"]})", alice_tok), 400, 3,
                               "pkg/events", "invalid_regexp");
        }
        SUBCASE("no right on one identifier: 403 pkg/auth/rights:no_gateway_rights, the whole stream refused") {
            auto r = refused(R"({"identifiers":[{"gateway_ids":{"gateway_id":"bob-gw"}},{"gateway_ids":{"gateway_id":"office-ttig"}}]})", bob_tok);
            check_stream_error(r, 403, 7, "pkg/auth/rights", "no_gateway_rights");
            CHECK(json::parse(r.response.body)["error"]["details"][0]["attributes"]["uid"] == "office-ttig");
            auto unknown = refused(R"({"identifiers":[{"gateway_ids":{"gateway_id":"no-such-gw"}}]})", alice_tok);
            check_stream_error(unknown, 403, 7, "pkg/auth/rights", "no_gateway_rights");
        }
        SUBCASE("too many stream opens: 429 pkg/ratelimit:rate_limit_exceeded, class grpc:stream:accept:/ttn.lorawan.v3.Events/Stream") {
            emu->api().set_rate_limits({emu::rate_profile{"streams", 60, 1, {"grpc:stream:accept:/ttn.lorawan.v3.Events/Stream"}}});
            reader first;
            first.stop = [](const reader& rd) { return !rd.messages.empty(); };
            open(first, office, alice_tok);
            REQUIRE(run_until([&] { return first.done.has_value(); }));
            REQUIRE(first.done->has_value());
            CHECK((*first.done)->response.status == 200);
            CHECK((*first.done)->response.headers.get("X-Rate-Limit-Limit") == "1");
            auto r = refused(office, alice_tok);
            check_stream_error(r, 429, 8, "pkg/ratelimit", "rate_limit_exceeded");
            CHECK(json::parse(r.response.body)["error"]["details"][0]["attributes"]["key"] ==
                  "grpc:stream:accept:/ttn.lorawan.v3.Events/Stream:token:" + key_id(alice_tok));
        }
        SUBCASE("a body that does not decode is a unary error (no wrapper, Content-Length)") {
            auto r = refused(R"({"identifiers":"office-ttig"})", alice_tok);
            CHECK(r.response.status == 400);
            CHECK(r.response.headers.get("Content-Length").has_value());
            const json j = json::parse(r.response.body);
            CHECK(j["code"] == 3);
            CHECK_FALSE(j.contains("error"));
        }
    }

    TEST_CASE_FIXTURE(fixture, "the first message is events.stream.start — framing with \\n, and \\n\\n for text/event-stream") {
        reader rd;
        rd.stop = [](const reader& x) { return !x.messages.empty(); };
        open(rd, R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"names":["gs.gateway.connect","gs.gateway.disconnect","gs.status.receive","/^gateway\\.update$/"]})",
             alice_tok);
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        REQUIRE(rd.done->has_value());
        const auto& res = (*rd.done)->response;
        CHECK(res.status == 200);
        CHECK(res.headers.get("Content-Type") == "application/json");
        CHECK(res.headers.get("Transfer-Encoding") == "chunked");
        CHECK_FALSE(res.headers.get("Content-Length").has_value());
        CHECK_FALSE(res.headers.get("X-Warning").has_value());  // the emulator has an events store
        REQUIRE(rd.messages.size() == 1);
        CHECK(rd.data.ends_with("}}\n"));
        const json start = rd.messages[0]["result"];
        CHECK(start["name"] == "events.stream.start");
        CHECK(start["time"] == "2025-01-01T00:00:00Z");
        CHECK(start["identifiers"] == json::parse(R"([{"gateway_ids":{"gateway_id":"office-ttig"}}])"));
        CHECK(start["data"] == json::parse(R"({"@type":"type.googleapis.com/google.protobuf.Value","value":["gateway.update","gs.gateway.connect","gs.gateway.disconnect","gs.status.receive"]})"));
        REQUIRE(start["correlation_ids"].size() == 1);
        CHECK(start["correlation_ids"][0].get<std::string>().starts_with("rpc:/ttn.lorawan.v3.Events/Stream:01"));
        CHECK_FALSE(start["origin"].get<std::string>().empty());
        CHECK(start["unique_id"].get<std::string>().size() == 26);
        CHECK_FALSE(start.contains("visibility"));

        reader sse;
        sse.stop = [](const reader& x) { return !x.messages.empty(); };
        open(sse, office, alice_tok, true);
        REQUIRE(run_until([&] { return sse.done.has_value(); }));
        REQUIRE(sse.done->has_value());
        CHECK((*sse.done)->response.headers.get("Content-Type") == "text/event-stream");
        CHECK(sse.data.starts_with("{\"result\":{\"name\":\"events.stream.start\""));  // raw JSON, no "data:" prefix
        CHECK(sse.data.ends_with("}}\n\n"));
        CHECK_FALSE(sse.messages[0]["result"].contains("data"));  // no names: no data
    }

    TEST_CASE_FIXTURE(fixture, "a gateway update is a gateway.update event with the updated paths — the stream ends when the client goes") {
        reader rd;
        bool updated = false;
        rd.stop = [](const reader& x) { return x.has("gateway.update"); };
        open(rd, office, alice_tok);
        REQUIRE(run_until([&] { return rd.has("events.stream.start"); }));
        CHECK(emu->state().events().subscribers() == 1);
        auto up = rest("PUT", "/api/v3/gateways/office-ttig",
                       R"({"gateway":{"name":"Office","gateway_server_address":"eu1.cloud.thethings.network"},"field_mask":{"paths":["name","gateway_server_address"]}})",
                       alice_tok);
        CHECK_MESSAGE(up.status == 200, up.body);
        updated = true;
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        CHECK(updated);
        const json e = rd.event("gateway.update");
        CHECK(e["identifiers"] == json::parse(R"([{"gateway_ids":{"gateway_id":"office-ttig"}}])"));
        CHECK(e["data"] == json::parse(R"({"@type":"type.googleapis.com/google.protobuf.Value","value":["gateway_server_address","name"]})"));
        CHECK(e["visibility"] == json::parse(R"({"rights":["RIGHT_GATEWAY_INFO"]})"));
        CHECK(e["authentication"] == json{{"type", "Bearer"}, {"token_type", "APIKey"}, {"token_id", key_id(alice_tok)}});
        CHECK(e["remote_ip"] == "127.0.0.1");
        CHECK(e["correlation_ids"][0].get<std::string>().starts_with("rpc:/ttn.lorawan.v3.GatewayRegistry/Update:"));
        CHECK(e["unique_id"].get<std::string>().size() == 26);
        // The client closed the connection: the server noticed and dropped the subscription.
        REQUIRE(run_until([&] { return emu->state().events().subscribers() == 0; }));
    }

    TEST_CASE_FIXTURE(fixture, "LNS connect and a gateway_changed drop: gs.gateway.connect and gs.gateway.disconnect as §4.11 shows them") {
        reader rd;
        rd.stop = [](const reader& x) { return x.has("gs.gateway.disconnect"); };
        open(rd, R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"names":["/^gs\\.gateway\\.(connect|disconnect)$/","gs.status.receive"]})",
             alice_tok);
        REQUIRE(run_until([&] { return rd.has("events.stream.start"); }));

        net::ws_client traffic(ioc.get_executor(), client_cfg());
        net::ws_connect_options wo;
        wo.headers = {"Authorization: Bearer " + lns_tok};
        std::optional<proto::result<proto::http_response>> connected;
        traffic.async_connect(cfg["lns_url"].get<std::string>() + "/traffic/eui-58A0CBFFFE801234", wo,
                              [&](proto::result<proto::http_response> r) { connected.emplace(std::move(r)); });
        REQUIRE(run_until([&] { return connected.has_value() && rd.has("gs.gateway.connect"); }));
        REQUIRE(connected->has_value());
        const json c = rd.event("gs.gateway.connect");
        CHECK(c["identifiers"] == json::parse(R"([{"gateway_ids":{"gateway_id":"office-ttig","eui":"58A0CBFFFE801234"}}])"));
        CHECK(c["data"] == json::parse(
                               R"({"@type":"type.googleapis.com/ttn.lorawan.v3.GatewayConnectionStats","connected_at":"2025-01-01T00:00:00Z","protocol":"semtechws/lbslns","gateway_remote_address":{"ip":"127.0.0.1"}})"));
        CHECK(c["correlation_ids"][0].get<std::string>().starts_with("gs:conn:"));
        CHECK(c["visibility"] == json::parse(R"({"rights":["RIGHT_GATEWAY_LINK","RIGHT_GATEWAY_STATUS_READ"]})"));
        CHECK(c["authentication"] == json{{"type", "Bearer"}, {"token_type", "APIKey"}, {"token_id", key_id(lns_tok)}});
        CHECK(c["remote_ip"] == "127.0.0.1");

        // version -> gs.status.receive
        std::optional<proto::result<void>> sent;
        traffic.async_send_text(R"j({"msgtype":"version","station":"2.0.6(minihub/std)","firmware":null,"package":null,"model":"minihub","protocol":2,"features":"rmtsh prod"})j",
                                [&](proto::result<void> r) { sent.emplace(std::move(r)); });
        REQUIRE(run_until([&] { return rd.has("gs.status.receive"); }));
        CHECK(rd.event("gs.status.receive")["data"]["@type"] == "type.googleapis.com/ttn.lorawan.v3.GatewayStatus");
        CHECK(rd.event("gs.status.receive")["data"]["versions"]["model"] == "minihub");

        // A registry change the Gateway Server notices at its next re-read (10 min ± 20 %).
        auto up = rest("PUT", "/api/v3/gateways/office-ttig", R"({"gateway":{"frequency_plan_ids":["US_902_928_FSB_2"]},"field_mask":{"paths":["frequency_plan_ids"]}})",
                       alice_tok);
        CHECK_MESSAGE(up.status == 200, up.body);
        clock.advance(13min);
        emu->tick();
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        const json d = rd.event("gs.gateway.disconnect");
        CHECK(d["identifiers"] == json::parse(R"([{"gateway_ids":{"gateway_id":"office-ttig","eui":"58A0CBFFFE801234"}}])"));
        CHECK(d["data"] == json::parse(
                               R"({"@type":"type.googleapis.com/ttn.lorawan.v3.ErrorDetails","namespace":"pkg/gatewayserver","name":"gateway_changed","message_format":"gateway changed in registry","code":2})"));
        CHECK(d["time"] == "2025-01-01T00:13:00Z");
        CHECK(d["correlation_ids"] == c["correlation_ids"]);
        CHECK(rd.names() == std::vector<std::string>{"events.stream.start", "gs.gateway.connect", "gs.status.receive", "gs.gateway.disconnect"});
    }

    TEST_CASE_FIXTURE(fixture, "visibility: a STATUS_READ key sees gs.* events of its gateway but not gateway.update") {
        reader rd;
        rd.stop = [](const reader& x) { return x.has("gs.gateway.connect"); };
        open(rd, office, alice_status_tok);
        REQUIRE(run_until([&] { return rd.has("events.stream.start"); }));
        auto up = rest("PUT", "/api/v3/gateways/office-ttig", R"({"gateway":{"name":"Office"},"field_mask":{"paths":["name"]}})", alice_tok);
        CHECK(up.status == 200);
        net::ws_client traffic(ioc.get_executor(), client_cfg());
        net::ws_connect_options wo;
        wo.headers = {"Authorization: Bearer " + lns_tok};
        traffic.async_connect(cfg["lns_url"].get<std::string>() + "/traffic/eui-58A0CBFFFE801234", wo, [](proto::result<proto::http_response>) {});
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        // events arrive in publish order: gateway.update was published first and filtered out
        CHECK(rd.names() == std::vector<std::string>{"events.stream.start", "gs.gateway.connect"});
    }

    TEST_CASE_FIXTURE(fixture, "tail replays stored events first — without tail or after there is no history") {
        CHECK(rest("PUT", "/api/v3/gateways/office-ttig", R"({"gateway":{"name":"One"},"field_mask":{"paths":["name"]}})", alice_tok).status == 200);
        clock.advance(1s);
        CHECK(rest("POST", "/api/v3/gateways/office-ttig/api-keys", R"({"name":"k","rights":["RIGHT_GATEWAY_INFO"]})", alice_tok).status == 200);
        clock.advance(1s);
        CHECK(rest("PUT", "/api/v3/gateways/bob-gw", R"({"gateway":{"name":"Bob"},"field_mask":{"paths":["name"]}})", bob_tok).status == 200);

        reader tail;
        tail.stop = [](const reader& x) { return x.messages.size() == 3; };
        open(tail, R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"tail":10})", alice_tok);
        REQUIRE(run_until([&] { return tail.done.has_value(); }));
        CHECK(tail.names() == std::vector<std::string>{"events.stream.start", "gateway.update", "gateway.api-key.create"});
        const json key = tail.event("gateway.api-key.create");
        CHECK(key["data"]["@type"] == "type.googleapis.com/ttn.lorawan.v3.APIKey");
        CHECK(key["data"]["name"] == "k");
        CHECK_FALSE(key["data"].contains("key"));  // no secret
        CHECK(key["visibility"] == json::parse(R"({"rights":["RIGHT_GATEWAY_SETTINGS_API_KEYS"]})"));

        reader one;
        one.stop = [](const reader& x) { return x.messages.size() == 2; };
        open(one, R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"tail":1})", alice_tok);
        REQUIRE(run_until([&] { return one.done.has_value(); }));
        CHECK(one.names() == std::vector<std::string>{"events.stream.start", "gateway.api-key.create"});

        reader after;
        after.stop = [](const reader& x) { return x.messages.size() == 2; };
        open(after, R"({"identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"after":"2025-01-01T00:00:00.500Z"})", alice_tok);
        REQUIRE(run_until([&] { return after.done.has_value(); }));
        CHECK(after.names() == std::vector<std::string>{"events.stream.start", "gateway.api-key.create"});

        reader live;
        live.stop = [](const reader& x) { return x.messages.size() == 2; };
        open(live, office, alice_tok);
        REQUIRE(run_until([&] { return live.has("events.stream.start"); }));
        CHECK(rest("DELETE", "/api/v3/gateways/office-ttig", "", alice_tok).status == 200);
        REQUIRE(run_until([&] { return live.done.has_value(); }));
        CHECK(live.names() == std::vector<std::string>{"events.stream.start", "gateway.delete"});
    }

    TEST_CASE_FIXTURE(fixture, "stopping the emulator ends open streams") {
        reader rd;
        open(rd, office, alice_tok);
        REQUIRE(run_until([&] { return rd.has("events.stream.start"); }));
        emu->stop();
        REQUIRE(run_until([&] { return rd.done.has_value(); }));
        REQUIRE(rd.done->has_value());
        CHECK_FALSE((*rd.done)->complete);
    }
}
