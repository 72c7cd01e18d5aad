// tts::client::read_events against the emulated The Things Stack (tts-api.md §4.11): the last
// events of a gateway within a window, the stream's refusals as TTS errors, live events.
#include "tts_fixture.hpp"

#include <ttig/emu/events.hpp>
#include <ttig/tts/client.hpp>
#include <ttig/tts/events.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <thread>

using namespace ttig;
using namespace std::chrono_literals;
using json = nlohmann::json;
using test::key_id;
using test::token;

namespace {

const std::string alice_tok = token("ALICE", "ALICESECRET");          // alice, RIGHT_ALL
const std::string bob_tok = token("BOB", "BOBSECRET");                // bob, RIGHT_ALL, nothing on office-ttig
const std::string status_tok = token("STATUS", "STATUSSECRET");       // alice, RIGHT_GATEWAY_STATUS_READ

json scenario() {
    return {
        {"options", {{"pbkdf2_iterations", 10}}},
        {"clusters", {{{"name", "eu1"}, {"address", "eu1.cloud.thethings.network"}, {"identity_server", true}}}},
        {"users", {{{"user_id", "admin"}, {"admin", true}}, {{"user_id", "alice"}}, {{"user_id", "bob"}}}},
        {"gateways",
         {{{"gateway", {{"ids", {{"gateway_id", "office-ttig"}, {"eui", "58A0CBFFFE801234"}}}, {"frequency_plan_ids", {"EU_863_870_TTN"}}}},
           {"owner", {{"user_id", "alice"}}}}}},
        {"api_keys",
         {{{"owner", {{"user_id", "alice"}}}, {"key", alice_tok}, {"name", "alice"}, {"rights", {"RIGHT_ALL"}}},
          {{"owner", {{"user_id", "alice"}}}, {"key", status_tok}, {"name", "status"}, {"rights", {"RIGHT_GATEWAY_STATUS_READ"}}},
          {{"owner", {{"user_id", "bob"}}}, {"key", bob_tok}, {"name", "bob"}, {"rights", {"RIGHT_ALL"}}}}},
    };
}

struct world {
    proto::manual_clock clock{proto::time_point{std::chrono::seconds{1735689600}}};
    test::temp_dir dir;
    std::unique_ptr<test::emu_run> run;

    world() {
        test::write_file(dir / "scenario.json", scenario().dump());
        emu::emulator_config cfg;
        cfg.ca_dir = dir / "ca";
        cfg.real_time_ticks = false;
        cfg.scenario_path = (dir / "scenario.json").string();
        run = std::make_unique<test::emu_run>(clock, std::move(cfg));
    }
    std::unique_ptr<tts::client> client(const std::string& key) {
        tts::client_options o;
        o.base_url = run->api_url();
        o.api_key = key;
        o.deadline = 10s;
        o.tls.ca_pem = {run->ca_pem()};
        o.tls.use_system_store = false;
        o.clock = &clock;
        return std::make_unique<tts::client>(o);
    }
};

template <class T>
void check_api_error(const tts::result<T>& r, int status, const std::string& full_name) {
    REQUIRE_FALSE(r.has_value());
    INFO(r.err().what());
    REQUIRE(r.api() != nullptr);
    CHECK(r.api()->http_status == status);
    CHECK(r.api()->full_name() == full_name);
    CHECK(r.err().id() == "tts." + full_name);
}

tts::gateway_update rename(std::string name) {
    tts::gateway_update u;
    u.name(std::move(name));
    return u;
}

}  // namespace

TEST_SUITE("tts.events") {
    TEST_CASE("the request: identifiers, names, tail, after as §4.11 shows them") {
        tts::events_request r;
        r.gateway_ids = {"office-ttig", "lab-ttig"};
        r.names = {"gs.gateway.connect", "/^gateway\\./"};
        r.tail = 10;
        r.after = tts::parse_time("2024-09-10T08:00:00Z");
        const auto h = tts::calls::stream_events(r);
        REQUIRE_FALSE(h.invalid);
        CHECK(h.rpc == "Events.Stream");
        CHECK(h.http.method == "POST");
        CHECK(h.http.target == "/api/v3/events");
        CHECK(json::parse(h.http.body) ==
              json::parse(R"({"identifiers": [{"gateway_ids": {"gateway_id": "office-ttig"}}, {"gateway_ids": {"gateway_id": "lab-ttig"}}],
                              "names": ["gs.gateway.connect", "/^gateway\\./"], "tail": 10, "after": "2024-09-10T08:00:00Z"})"));
        tts::events_request none;
        CHECK(tts::calls::stream_events(none).invalid);
    }

    TEST_CASE("decoding messages: start event, events, a mid-stream error, a partial message") {
        tts::events_read out;
        const std::string body =
            R"({"result":{"name":"events.stream.start","time":"2024-09-10T08:12:00.001Z","identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"data":{"@type":"type.googleapis.com/google.protobuf.Value","value":["gateway.update","gs.gateway.connect","gs.gateway.disconnect","gs.status.receive"]},"unique_id":"01J7A0"}})"
            "\n\n"
            R"({"result":{"name":"gateway.update","time":"2024-09-10T08:55:00Z","identifiers":[{"gateway_ids":{"gateway_id":"office-ttig"}}],"data":{"@type":"type.googleapis.com/google.protobuf.Value","value":["gateway_server_address","lbs_lns_secret"]},"visibility":{"rights":["RIGHT_GATEWAY_INFO"]},"unique_id":"01J7A5"}})"
            "\n"
            R"j({"error":{"code":14,"message":"error:pkg/util/store:database_unavailable (database unavailable)","details":[{"@type":"type.googleapis.com/ttn.lorawan.v3.ErrorDetails","namespace":"pkg/util/store","name":"database_unavailable","code":14}]}})j"
            "\n"
            R"({"result":{"name":"gs.up)";
        const auto rest = tts::decode_event_messages(body, out);
        CHECK(rest == R"({"result":{"name":"gs.up)");
        CHECK(out.names == std::vector<std::string>{"gateway.update", "gs.gateway.connect", "gs.gateway.disconnect", "gs.status.receive"});
        REQUIRE(out.start);
        CHECK(out.start->gateway_ids == std::vector<std::string>{"office-ttig"});
        REQUIRE(out.events.size() == 1);
        CHECK(out.events[0].name == "gateway.update");
        CHECK(out.events[0].data_type == "google.protobuf.Value");
        CHECK(out.events[0].value() == json::array({"gateway_server_address", "lbs_lns_secret"}));
        CHECK(out.events[0].visibility == std::vector<std::string>{"RIGHT_GATEWAY_INFO"});
        CHECK(tts::format_time(*out.events[0].time) == "2024-09-10T08:55:00Z");
        REQUIRE(out.stream_error);
        CHECK(out.stream_error->full_name() == "pkg/util/store:database_unavailable");
    }

    TEST_CASE("the last N events of a gateway within a window (tail), and the refusals") {
        world w;
        auto alice = w.client(alice_tok);
        REQUIRE(alice->update_gateway("office-ttig", rename("One")));
        w.clock.advance(1s);
        REQUIRE(alice->update_gateway("office-ttig", rename("Two")));

        tts::events_request r;
        r.gateway_ids = {"office-ttig"};
        r.names = {"/^gateway\\./"};
        r.tail = 5;
        auto got = alice->read_events(r, 10s, 2);
        REQUIRE_MESSAGE(got.has_value(), got.err().what());
        CHECK(got->limit_reached);
        CHECK_FALSE(got->window_expired);
        REQUIRE(got->start);
        CHECK(got->names.size() == 11);  // every gateway.* name
        REQUIRE(got->events.size() == 2);
        for (const auto& e : got->events) {
            CHECK(e.name == "gateway.update");
            CHECK(e.value() == json::array({"name"}));
            CHECK(e.gateway_ids == std::vector<std::string>{"office-ttig"});
            CHECK(e.unique_id.size() == 26);
        }
        CHECK(tts::format_time(*got->events[0].time) == "2025-01-01T00:00:00Z");
        CHECK(tts::format_time(*got->events[1].time) == "2025-01-01T00:00:01Z");

        SUBCASE("no rights on the gateway: 403 pkg/auth/rights:no_gateway_rights") {
            check_api_error(w.client(bob_tok)->read_events(r, 10s), 403, "pkg/auth/rights:no_gateway_rights");
        }
        SUBCASE("unknown event name: 400 pkg/events:unknown_event_name") {
            tts::events_request bad = r;
            bad.names = {"gs.gateway.connected"};
            auto e = alice->read_events(bad, 10s);
            check_api_error(e, 400, "pkg/events:unknown_event_name");
            CHECK(e.api()->attributes["name"] == "gs.gateway.connected");
        }
        SUBCASE("a regex matching nothing: 400 pkg/events:no_matching_events") {
            tts::events_request bad = r;
            bad.names = {"/^ns\\./"};
            check_api_error(alice->read_events(bad, 10s), 400, "pkg/events:no_matching_events");
        }
        SUBCASE("no gateway: refused before sending") {
            auto e = alice->read_events(tts::events_request{}, 10s);
            REQUIRE_FALSE(e.has_value());
            CHECK(e.err().id() == "tts.bad_argument");
        }
        SUBCASE("visibility: a STATUS_READ key gets none of the gateway.update events") {
            auto s = w.client(status_tok)->read_events(r, 300ms);
            REQUIRE(s.has_value());
            CHECK(s->window_expired);
            CHECK(s->events.empty());
        }
    }

    TEST_CASE("a live event within the window, with text/event-stream framing") {
        world w;
        auto alice = w.client(alice_tok);
        tts::events_request r;
        r.gateway_ids = {"office-ttig"};
        r.event_stream_framing = true;
        // Another client changes the gateway once the stream is subscribed.
        std::thread changer([&] {
            auto& bus = w.run->emu().state().events();
            const auto until = std::chrono::steady_clock::now() + 10s;
            while (bus.subscribers() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
            (void)w.client(alice_tok)->delete_gateway("office-ttig");
        });
        auto got = alice->read_events(r, 10s, 1);
        changer.join();
        REQUIRE_MESSAGE(got.has_value(), got.err().what());
        REQUIRE(got->events.size() == 1);
        CHECK(got->events[0].name == "gateway.delete");
        CHECK(got->events[0].visibility == std::vector<std::string>{"RIGHT_GATEWAY_INFO"});
        CHECK(got->names.empty());  // no names asked: the start event has no data
    }
}
