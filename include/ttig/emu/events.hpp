// The emulated The Things Stack's events (tts-api.md §4.11; lorawan-stack v3.32.1 pkg/events,
// pkg/events/grpc, pkg/gatewayserver/observability.go, pkg/identityserver/gateway_registry.go and
// gateway_access.go), sans-io.
//
//  - definitions: the gateway-relevant event names of v3.32.1 with their visibility rights and data
//    types; names_from_patterns resolves a request's `names` as pkg/events.NamesFromPatterns does
//    (exact names must be defined, "/re/" must match at least one defined name; the regex dialect
//    is ECMAScript, not Go's RE2: the common subset behaves the same);
//  - event_bus: publish() completes an event (ULID unique_id, time from the clock) and keeps it in a
//    bounded in-memory store; subscribe() replays history as the Redis store does (per requested
//    identifier: the last `tail` stored events at or after `after` - 1 s, then filtered by name and by
//    time > after, milliseconds) and then delivers every new matching, visible event. Events are
//    scoped to the cluster that produced them (registry events: the Identity Server's cluster; gs.*:
//    the cluster the gateway is connected to), as a stream only carries the events of its host.
//  - visibility: an event with visibility rights is delivered when the subscriber's rights on one of
//    its gateways, implied, share a right with them (rightsutil.EventIsVisible). The rights are
//    taken when the stream opens (TTS looks them up through its rights cache).
// Thread-safe (one lock); sinks run under it and must neither block nor call back into the bus.
#pragma once

#include <ttig/emu/api_keys.hpp>
#include <ttig/emu/error.hpp>
#include <ttig/emu/tts_state.hpp>
#include <ttig/proto/clock.hpp>
#include <ttig/proto/eui.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ttig::emu {

struct event_definition {
    std::string_view name;
    std::string_view description;
    rights visibility;           // empty: visible to anyone subscribed
    std::string_view data_type;  // the data's "@type" short name ("ttn.lorawan.v3.GatewayConnectionStats"), "" when none
};

// Every event the emulator defines, sorted by name.
std::span<const event_definition> event_definitions() noexcept;
const event_definition* find_event_definition(std::string_view name) noexcept;

// StreamEventsRequest.names -> the sorted, de-duplicated defined names (empty: all events). Errors:
// 400 pkg/events:unknown_event_name {name}, pkg/events:invalid_regexp, pkg/events:no_matching_events {regexp}.
tts_result<std::vector<std::string>> names_from_patterns(std::span<const std::string> patterns);

// One event (ttn.lorawan.v3.Event).
struct event {
    std::string name;
    time_point time{};                   // zero: publish() stamps the clock's now
    std::vector<entity_ref> entities;    // for filtering: the identifiers' entities
    nlohmann::ordered_json identifiers = nlohmann::ordered_json::array();  // EntityIdentifiers as rendered
    nlohmann::ordered_json data;         // google.protobuf.Any with "@type", or null
    std::vector<std::string> correlation_ids;
    std::string origin;                  // empty: the bus's origin for the cluster
    rights visibility;                   // empty: publish() takes the definition's
    nlohmann::ordered_json authentication;  // {"type","token_type","token_id"} or null
    std::string remote_ip;
    std::string user_agent;
    std::string unique_id;               // empty: publish() makes a ULID
    std::string cluster;                 // where it was produced (not serialized)

    // Adds a gateway identifier ({"gateway_ids":{"gateway_id":…,"eui":…}}).
    event& gateway(const std::string& gateway_id, std::optional<proto::eui64> eui = std::nullopt);
    // data = {"@type": "type.googleapis.com/<type>", ...fields of `message`}.
    event& with_data(std::string_view type, const nlohmann::ordered_json& message);
    // data = google.protobuf.Value holding `value` ({"@type": ".../google.protobuf.Value", "value": …}).
    event& with_value(nlohmann::ordered_json value);
    // data = ErrorDetails of a TTS error ({"@type": ".../ttn.lorawan.v3.ErrorDetails", namespace, name, …}).
    event& with_error(const tts_error& err);
    // authentication from an Authorization header value ("Bearer NNSXS.…"); nothing for other values.
    event& with_authorization(std::optional<std::string_view> authorization);

    // The Event JSON in proto field order (name, time, identifiers, data, correlation_ids, origin,
    // visibility, authentication, remote_ip, user_agent, unique_id), zero values omitted.
    nlohmann::ordered_json to_json() const;
};

// What a stream subscribes to.
struct event_filter {
    std::vector<entity_ref> identifiers;          // an event matches when it names one of them
    std::vector<std::string> names;               // resolved names; empty: every name
    std::string cluster;                          // empty: events of every cluster
    std::map<std::string, rights> gateway_rights;  // the subscriber's rights per gateway (visibility)
    std::map<std::string, rights> entity_rights;   // the same for users and organizations ("user:alice")

    bool matches(const event& e) const;   // identifiers, names, cluster
    bool visible(const event& e) const;   // visibility rights
};

// A validated StreamEventsRequest (tts_api), served by the network driver.
struct event_stream {
    event_filter filter;
    std::uint32_t tail = 0;
    std::optional<time_point> after;  // unset with tail 0: no history (TTS sets after = now)
    std::string delimiter = "\n";     // "\n\n" for Accept: text/event-stream
    event start;                      // the synthetic events.stream.start

    // One message: {"result": <event>} and the delimiter.
    std::string frame(const event& e) const;
};

class event_bus {
public:
    using sink = std::function<void(const event&)>;

    explicit event_bus(const proto::clock& clock, std::size_t capacity = 4096);

    // Completes the event (unique_id, time, origin, visibility from its definition), stores it and
    // delivers it to matching subscribers. Returns the completed event.
    event publish(event e);
    // Replays history (tail/after, see above) and then delivers every new matching visible event,
    // all through `s`, in order. Returns the subscription id.
    std::uint64_t subscribe(event_filter filter, std::uint32_t tail, std::optional<time_point> after, sink s);
    void unsubscribe(std::uint64_t id);
    std::size_t subscribers() const;
    // The stored events, oldest first.
    std::vector<event> stored() const;

    // A ULID (26 Crockford base32 characters: 48-bit milliseconds of the clock, 80 random bits).
    std::string new_id();
    // "ttigctl-emu-<cluster>": the Event.origin (TTS puts the host name there).
    static std::string origin_of(std::string_view cluster);
    const proto::clock& clock() const noexcept { return *clock_; }

private:
    std::string new_id_locked();

    const proto::clock* clock_;
    std::size_t capacity_;
    mutable std::mutex mu_;
    std::mt19937_64 rng_;
    std::deque<event> store_;
    struct subscription {
        event_filter filter;
        sink s;
    };
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, subscription> subs_;
};

}  // namespace ttig::emu
