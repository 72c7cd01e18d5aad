#include <ttig/emu/station_fleet.hpp>

#include <ttig/net/byte_stream.hpp>
#include <ttig/proto/station_wire.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <future>

namespace ttig::emu {

namespace {

// scheme://host:port[/path] as the station connects to it.
struct target {
    std::string host;
    std::uint16_t port = 0;
    bool tls = false;
};

std::optional<target> parse_target(std::string_view uri) {
    const auto sep = uri.find("://");
    if (sep == std::string_view::npos) return std::nullopt;
    const auto scheme = uri.substr(0, sep);
    target t;
    t.tls = proto::iequals(scheme, "https") || proto::iequals(scheme, "wss");
    if (!t.tls && !proto::iequals(scheme, "http") && !proto::iequals(scheme, "ws")) return std::nullopt;
    auto rest = uri.substr(sep + 3);
    rest = rest.substr(0, rest.find('/'));
    std::string_view port_text;
    if (rest.starts_with('[')) {
        const auto close = rest.find(']');
        if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') return std::nullopt;
        t.host = std::string(rest.substr(1, close - 1));
        port_text = rest.substr(close + 2);
    } else {
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        t.host = std::string(rest.substr(0, colon));
        port_text = rest.substr(colon + 1);
    }
    unsigned port = 0;
    const auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || p != port_text.data() + port_text.size() || port == 0 || port > 65535 || t.host.empty()) return std::nullopt;
    t.port = static_cast<std::uint16_t>(port);
    return t;
}

constexpr std::size_t cups_body_limit = 1u << 20;  // a hostile Content-Length cannot make us buffer more

}  // namespace

struct station_fleet::impl : std::enable_shared_from_this<impl> {
    enum class stage { idle, connecting, head, body, frames, done };

    struct channel {
        std::shared_ptr<net::byte_stream> stream;
        std::uint64_t gen = 0;
        stage at = stage::idle;
        std::string buf;
        int status = 0;
        std::size_t content_length = 0;
        std::optional<proto::ws_frame_reader> frames;
        std::shared_ptr<boost::asio::steady_timer> slow_handshake;  // profile.ecdsa_handshake_delay
    };

    struct station_rt {
        std::size_t index = 0;
        station_engine engine;
        std::array<channel, 4> ch;  // 1 CUPS, 2 discovery, 3 traffic
        std::optional<proto::time_point> scheduled;
        station_rt(std::size_t i, station::home h, proto::eui64 eui, station_profile prof, const proto::clock& c, station_timing t)
            : index(i), engine(std::move(h), eui, std::move(prof), c, t) {}
    };

    boost::asio::io_context& ioc;
    const proto::clock& clock;
    fleet_options opts;
    std::vector<std::unique_ptr<station_rt>> stations;
    std::multimap<proto::time_point, std::size_t> deadlines;
    boost::asio::steady_timer timer;
    std::optional<proto::time_point> timer_for;
    bool stopped = false;
    std::uint64_t next_gen = 1;

    impl(boost::asio::io_context& io, const proto::clock& c, fleet_options o) : ioc(io), clock(c), opts(std::move(o)), timer(io) {
        const std::size_t n = std::min(opts.homes.size(), opts.euis.size());
        stations.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            stations.push_back(std::make_unique<station_rt>(i, station::home(opts.homes[i]), opts.euis[i], opts.profile, clock, opts.timing));
            if (opts.on_event) {
                auto sink = opts.on_event;
                stations.back()->engine.set_event_sink([sink, i](const station_event& e) { sink(i, e); });
            }
        }
    }

    // ---- scheduling ----
    void reschedule(station_rt& st) {
        auto d = st.engine.next_deadline();
        if (st.scheduled == d) return;
        if (st.scheduled) {
            auto range = deadlines.equal_range(*st.scheduled);
            for (auto it = range.first; it != range.second; ++it)
                if (it->second == st.index) {
                    deadlines.erase(it);
                    break;
                }
        }
        st.scheduled = d;
        if (d) deadlines.emplace(*d, st.index);
        arm();
    }

    void arm() {
        if (stopped || deadlines.empty()) return;
        const auto first = deadlines.begin()->first;
        const auto now = clock.now();
        // Keep a pending wake-up that comes first, unless this deadline is already due (with a
        // virtual clock a pending timer may be far off in real time).
        if (timer_for && *timer_for <= first && first > now) return;
        timer_for = first;
        auto wait = first > now ? first - now : std::chrono::nanoseconds(0);
        if (opts.poll.count() > 0) wait = std::min<std::chrono::nanoseconds>(wait, opts.poll);
        wait = std::min<std::chrono::nanoseconds>(wait, std::chrono::hours(1));
        timer.expires_after(wait);
        timer.async_wait([w = weak_from_this()](boost::system::error_code ec) {
            auto self = w.lock();
            if (!self || ec) return;
            self->timer_for.reset();
            self->wake();
        });
    }

    void wake() {
        if (stopped) return;
        for (int round = 0; round < 64; ++round) {
            const auto now = clock.now();
            std::vector<std::size_t> due;
            for (auto it = deadlines.begin(); it != deadlines.end() && it->first <= now; ++it) due.push_back(it->second);
            if (due.empty()) break;
            for (auto i : due) {
                auto& st = *stations[i];
                st.engine.tick();
                after(st);
            }
        }
        arm();
    }

    // After any engine call: carry out what it asked for, then reschedule.
    void after(station_rt& st) {
        for (auto& a : st.engine.take_actions()) act(st, std::move(a));
        reschedule(st);
    }

    // ---- actions ----
    void drop(station_rt& st, int c, bool graceful) {
        auto& ch = st.ch[static_cast<std::size_t>(c)];
        if (ch.stream) graceful ? ch.stream->close() : ch.stream->abort();
        ch.stream.reset();
        ch.gen = 0;
        ch.at = stage::idle;
        ch.buf.clear();
        ch.buf.shrink_to_fit();
        ch.frames.reset();
        if (ch.slow_handshake) ch.slow_handshake->cancel();
        ch.slow_handshake.reset();
    }

    void act(station_rt& st, station_action a) {
        using K = station_action::kind;
        const int c = a.channel;
        if (c < 1 || c > 3) return;
        auto& ch = st.ch[static_cast<std::size_t>(c)];
        switch (a.what) {
            case K::cancel: drop(st, c, false); return;
            case K::ws_send:
                if (ch.stream && ch.at == stage::frames) ch.stream->write(std::move(a.wire));
                return;
            case K::ws_close:
                if (ch.stream && !a.wire.empty()) ch.stream->write(std::move(a.wire));
                drop(st, c, true);
                return;
            case K::cups_request:
            case K::ws_open: break;
        }
        drop(st, c, false);
        auto t = parse_target(a.uri);
        if (!t) {
            fail(st, c, fmt::format("cannot connect to \"{}\"", a.uri));
            return;
        }
        net::byte_stream_options o;
        o.host = t->host;
        o.port = t->port;
        o.tls = t->tls;
        o.trust = std::move(a.trust);
        o.client_cert = std::move(a.crt);
        o.client_key = std::move(a.key);
        if (opts.profile.tls12_only) o.max_version = net::tls_version::tls1_2;
        o.max_chain_depth = opts.profile.max_chain_depth > 0 ? opts.profile.max_chain_depth : -1;
        o.max_chain_bytes = opts.profile.max_chain_bytes;
        o.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(opts.timing.cups_timeout);
        o.hosts = opts.hosts;
        ch.stream = net::byte_stream::create(ioc.get_executor());
        ch.gen = next_gen++;
        ch.at = stage::connecting;
        const auto gen = ch.gen;
        const auto index = st.index;
        std::weak_ptr<impl> w = weak_from_this();
        auto stream = ch.stream;
        stream->set_handlers(
            [w, index, c, gen](std::string_view data) {
                if (auto self = w.lock()) self->on_data(index, c, gen, data);
            },
            [w, index, c, gen](proto::error e) {
                if (auto self = w.lock()) self->on_end(index, c, gen, std::move(e));
            });
        stream->connect(std::move(o), [w, index, c, gen, wire = std::move(a.wire)](proto::result<void> r) mutable {
            auto self = w.lock();
            if (!self) return;
            auto& st2 = *self->stations[index];
            auto& ch2 = st2.ch[static_cast<std::size_t>(c)];
            if (ch2.gen != gen) return;
            if (!r) return self->fail(st2, c, r.err().what());
            ch2.at = stage::head;
            const auto delay = self->opts.profile.ecdsa_handshake_delay;
            if (delay.count() > 0 && ch2.stream->peer_key_type() == "EC") {
                // A slow device is still verifying the server's ECDSA signature: nothing is sent.
                ch2.slow_handshake = std::make_shared<boost::asio::steady_timer>(self->ioc, delay);
                ch2.slow_handshake->async_wait([w, index, c, gen, wire = std::move(wire)](boost::system::error_code ec) mutable {
                    auto self2 = w.lock();
                    if (!self2 || ec) return;
                    auto& ch3 = self2->stations[index]->ch[static_cast<std::size_t>(c)];
                    if (ch3.gen != gen || !ch3.stream) return;
                    ch3.slow_handshake.reset();
                    ch3.stream->write(std::move(wire));
                });
                return;
            }
            ch2.stream->write(std::move(wire));
        });
    }

    // A connection failed before anything was read.
    void fail(station_rt& st, int c, std::string why) {
        drop(st, c, false);
        if (c == channel_cups) st.engine.on_cups_response(0, false, {}, std::move(why));
        else st.engine.on_ws_open(c, 0, std::move(why));
        after(st);
    }

    void on_data(std::size_t index, int c, std::uint64_t gen, std::string_view data) {
        if (index >= stations.size()) return;
        auto& st = *stations[index];
        auto& ch = st.ch[static_cast<std::size_t>(c)];
        if (ch.gen != gen || !ch.stream) return;
        if (ch.at == stage::frames) return feed_frames(st, c, data);
        ch.buf.append(data);
        if (ch.at == stage::head) {
            auto h = proto::parse_station_http_head(ch.buf, 8192);
            if (!h) return fail(st, c, h.err().what());
            if (!h->has_value()) return;
            const auto& head = **h;
            ch.status = head.status;
            std::string rest = ch.buf.substr(head.head_size);
            ch.buf.clear();
            if (c == channel_cups) {
                if (!head.content_length || head.chunked) {
                    // The station cannot read a body without Content-Length (§1.9).
                    drop(st, c, false);
                    st.engine.on_cups_response(head.status, false, {});
                    return after(st);
                }
                if (*head.content_length > cups_body_limit) return fail(st, c, fmt::format("Content-Length {} is too big", *head.content_length));
                ch.content_length = *head.content_length;
                ch.at = stage::body;
                ch.buf = std::move(rest);
            } else {
                if (head.status != 101) {
                    drop(st, c, false);
                    st.engine.on_ws_open(c, head.status);
                    return after(st);
                }
                ch.at = stage::frames;
                ch.frames.emplace(40u << 10);
                st.engine.on_ws_open(c, 101);
                after(st);
                if (!rest.empty() && st.ch[static_cast<std::size_t>(c)].gen == gen) feed_frames(st, c, rest);
                return;
            }
        }
        if (ch.at == stage::body && ch.buf.size() >= ch.content_length) {
            proto::bytes body(ch.buf.begin(), ch.buf.begin() + static_cast<std::ptrdiff_t>(ch.content_length));
            const int status = ch.status;
            drop(st, c, true);
            st.engine.on_cups_response(status, true, body);
            after(st);
        }
    }

    void feed_frames(station_rt& st, int c, std::string_view data) {
        auto& ch = st.ch[static_cast<std::size_t>(c)];
        const auto gen = ch.gen;
        std::size_t pos = 0;
        while (ch.gen == gen && ch.frames && pos < data.size()) {
            pos += ch.frames->consume(data.substr(pos));
            if (ch.frames->failure()) {
                const std::string why = ch.frames->failure()->what();
                drop(st, c, false);
                st.engine.on_ws_closed(c, why);
                return after(st);
            }
            if (!ch.frames->has_frame()) continue;
            auto f = ch.frames->take();
            switch (f.op) {
                case proto::ws_opcode::text: st.engine.on_ws_text(c, std::move(f.payload)); break;
                case proto::ws_opcode::ping: st.engine.on_ws_ping(c, std::move(f.payload)); break;
                case proto::ws_opcode::close:
                    drop(st, c, false);
                    st.engine.on_ws_closed(c, "close frame from the server");
                    break;
                default: break;  // binary, continuation, pong: ignored
            }
            after(st);
        }
    }

    void on_end(std::size_t index, int c, std::uint64_t gen, proto::error e) {
        if (index >= stations.size()) return;
        auto& st = *stations[index];
        auto& ch = st.ch[static_cast<std::size_t>(c)];
        if (ch.gen != gen) return;
        const auto at = ch.at;
        drop(st, c, false);
        const std::string why = e.what();
        if (c == channel_cups) st.engine.on_cups_response(0, false, {}, why);
        else if (at == stage::frames) st.engine.on_ws_closed(c, why);
        else st.engine.on_ws_open(c, 0, why);
        after(st);
    }

    fleet_summary summarize() const {
        fleet_summary s;
        s.stations = stations.size();
        for (const auto& st : stations) {
            ++s.tc[std::string(to_string(st->engine.tc_state()))];
            ++s.leds[std::string(to_string(st->engine.led()))];
            s.cups_requests += st->engine.cups_requests();
            s.tc_connects += st->engine.tc_connects();
            for (const auto& ch : st->ch)
                if (ch.at == stage::connecting || ch.at == stage::head || ch.at == stage::body) ++s.in_flight;
        }
        return s;
    }
};

station_fleet::station_fleet(boost::asio::io_context& ioc, const proto::clock& clock, fleet_options options)
    : p_(std::make_shared<impl>(ioc, clock, std::move(options))) {}

station_fleet::~station_fleet() {
    // Streams hold only weak references back; aborting them is enough. It must happen on the io
    // thread: a stream's handler may be running there right now (a teardown from the caller's
    // thread raced with on_data and freed a stream twice).
    if (!p_) return;
    auto teardown = [p = p_] {
        p->stopped = true;
        for (auto& st : p->stations)
            for (int c = 1; c <= 3; ++c) p->drop(*st, c, false);
        p->timer.cancel();
    };
    if (p_->ioc.stopped() || p_->ioc.get_executor().running_in_this_thread()) {
        teardown();
        return;
    }
    auto done = std::make_shared<std::promise<void>>();
    auto f = done->get_future();
    boost::asio::post(p_->ioc, [teardown, done] {
        teardown();
        done->set_value();
    });
    // Nobody runs the io_context (a caller that stopped driving it): tear down here; the posted
    // copy, should it ever run, finds everything dropped already.
    if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) teardown();
}

void station_fleet::start() {
    boost::asio::post(p_->ioc, [p = p_] {
        p->stopped = false;
        for (auto& st : p->stations) {
            st->engine.start();
            p->after(*st);
        }
        p->wake();
    });
}

void station_fleet::stop() {
    boost::asio::post(p_->ioc, [p = p_] {
        p->stopped = true;
        p->timer.cancel();
        for (auto& st : p->stations)
            for (int c = 1; c <= 3; ++c) p->drop(*st, c, false);
    });
}

void station_fleet::on_station(std::size_t i, std::function<void(station_engine&)> f) {
    boost::asio::post(p_->ioc, [p = p_, i, f = std::move(f)] {
        if (i >= p->stations.size()) return;
        f(p->stations[i]->engine);
        p->after(*p->stations[i]);
    });
}

void station_fleet::press_reset(std::size_t i) { on_station(i, [](station_engine& e) { e.press_reset(); }); }
void station_fleet::press_setup(std::size_t i) { on_station(i, [](station_engine& e) { e.press_setup(); }); }
void station_fleet::power_cycle(std::size_t i) { on_station(i, [](station_engine& e) { e.power_cycle(); }); }
void station_fleet::set_network(std::size_t i, bool up) {
    on_station(i, [up](station_engine& e) { e.set_network(up); });
}
void station_fleet::wake() {
    boost::asio::post(p_->ioc, [p = p_] { p->wake(); });
}

std::size_t station_fleet::size() const noexcept { return p_->stations.size(); }

fleet_summary station_fleet::summary() {
    std::promise<fleet_summary> done;
    auto f = done.get_future();
    boost::asio::post(p_->ioc, [p = p_, &done] { done.set_value(p->summarize()); });
    return f.get();
}

fleet_summary station_fleet::summary_now() const { return p_->summarize(); }

const station_engine& station_fleet::engine(std::size_t i) const { return p_->stations.at(i)->engine; }

}  // namespace ttig::emu
