// Shared pieces of the benchmarks: the emulator as a separate process (`ttigctl emulate tts`), CPU
// and RSS of a process from /proc, percentiles, machine facts, and a bounded io_context run.
// Header-only; every bench is one translation unit. Nothing here loops without a bound.
#pragma once

#include <ttig/net/client_config.hpp>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TTIG_CLI_BINARY
#define TTIG_CLI_BINARY "ttigctl"
#endif

namespace bench {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;
using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

inline double seconds_since(steady::time_point t) { return std::chrono::duration<double>(steady::now() - t).count(); }

// ---- machine and process facts -----------------------------------------------------------------

inline std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            auto c = line.find(':');
            return c == std::string::npos ? line : line.substr(c + 2);
        }
    return "unknown";
}

inline std::string loadavg() {
    auto s = read_text("/proc/loadavg");
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

inline ojson machine_json() {
    ojson j;
    j["nproc"] = std::thread::hardware_concurrency();
    j["cpu_model"] = cpu_model();
    j["loadavg"] = loadavg();
    return j;
}

inline void print_machine(const char* bench_name) {
    fmt::print("{}: nproc {}, CPU \"{}\", loadavg {} (other processes share this machine)\n", bench_name,
               std::thread::hardware_concurrency(), cpu_model(), loadavg());
}

// utime + stime of a process, in seconds (/proc/<pid>/stat fields 14 and 15).
inline std::optional<double> proc_cpu_seconds(pid_t pid) {
    const auto s = read_text(fmt::format("/proc/{}/stat", pid));
    const auto close = s.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return std::nullopt;
    std::istringstream in(s.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    // fields after the name start at 3 (state); utime is 14, stime 15
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// CPU time of this process (all threads), seconds.
inline double self_cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return tv(u.ru_utime) + tv(u.ru_stime);
}

// A field of /proc/<pid>/status in KiB ("VmRSS", "RssAnon", "VmHWM"), or -1.
inline long long proc_status_kib(pid_t pid, const char* field) {
    std::ifstream in(fmt::format("/proc/{}/status", pid));
    std::string line;
    const std::string want = std::string(field) + ":";
    while (std::getline(in, line))
        if (line.rfind(want, 0) == 0) return std::stoll(line.substr(want.size()));
    return -1;
}

// Raises this process's RLIMIT_NOFILE (soft and, when allowed, hard) to at least n.
inline bool raise_nofile(rlim_t n) {
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
    if (r.rlim_cur >= n) return true;
    rlimit want = r;
    want.rlim_cur = n;
    if (want.rlim_max < n) want.rlim_max = n;  // root only
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) return true;
    want.rlim_cur = std::min(n, r.rlim_max);
    want.rlim_max = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &want);
    return false;
}

inline rlim_t nofile_limit() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_cur;
}

// ---- statistics ------------------------------------------------------------------------------------

// Nearest-rank percentile of unsorted samples (sorts them). p in [0, 100].
inline double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    if (rank == 0) rank = 1;
    return v[std::min(rank, v.size()) - 1];
}

inline double median(std::vector<double> v) { return percentile(v, 50); }

// ---- the emulator process --------------------------------------------------------------------------

struct emulator_options {
    std::string ttigctl = TTIG_CLI_BINARY;
    std::optional<std::string> scenario_json;  // written to <dir>/scenario.json and passed with --scenario
    std::vector<std::string> extra_args;       // e.g. {"--fallback-frequency-plan", "EU_863_870_TTN"}
    rlim_t nofile = 0;                          // RLIMIT_NOFILE for the emulator (0 = inherit)
    std::chrono::seconds start_timeout{60};
};

// `ttigctl emulate tts --listen 127.0.0.1:0 --config-out <dir>/config.json` in its own process, with
// PR_SET_PDEATHSIG so it never outlives the bench. The config file is written (rename) once every
// listener is up; start_seconds is exec-to-file, measured from just before fork().
class emulator_process {
public:
    emulator_process() = default;
    emulator_process(const emulator_process&) = delete;
    emulator_process& operator=(const emulator_process&) = delete;
    ~emulator_process() { stop(); }

    // Empty string on success, else what failed.
    std::string start(const emulator_options& o) {
        char tmpl[] = "/tmp/ttig-bench-XXXXXX";
        if (!::mkdtemp(tmpl)) return fmt::format("mkdtemp: {}", std::strerror(errno));
        dir_ = tmpl;
        const fs::path config = dir_ / "config.json";
        std::vector<std::string> args{o.ttigctl, "emulate", "tts", "--listen", "127.0.0.1:0", "--config-out", config.string()};
        if (o.scenario_json) {
            const fs::path sc = dir_ / "scenario.json";
            std::ofstream(sc, std::ios::binary) << *o.scenario_json;
            args.push_back("--scenario");
            args.push_back(sc.string());
        }
        args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string log_path = (dir_ / "emulator.log").string();
        const pid_t parent = ::getpid();

        const auto t0 = steady::now();
        const pid_t pid = ::fork();
        if (pid < 0) return fmt::format("fork: {}", std::strerror(errno));
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (::getppid() != parent) ::_exit(127);
            if (o.nofile) {
                rlimit r{o.nofile, o.nofile};
                ::setrlimit(RLIMIT_NOFILE, &r);
            }
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
                ::close(fd);
            }
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        // Poll (0.5 ms) for the config file; bounded by start_timeout and by the child's exit.
        const auto deadline = t0 + o.start_timeout;
        while (steady::now() < deadline) {
            struct stat st {};
            if (::stat(config.c_str(), &st) == 0) {
                start_seconds_ = seconds_since(t0);
                config_ = json::parse(read_text(config), nullptr, false);
                if (config_.is_discarded()) return "config file is not JSON";
                return {};
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return fmt::format("emulator exited before listening; log: {}", read_text(log_path));
            }
            ::usleep(500);
        }
        return fmt::format("emulator not listening after {} s", o.start_timeout.count());
    }

    // SIGTERM, then SIGKILL after 10 s. Idempotent.
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            const auto deadline = steady::now() + std::chrono::seconds(10);
            int status = 0;
            while (::waitpid(pid_, &status, WNOHANG) == 0) {
                if (steady::now() > deadline) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, &status, 0);
                    break;
                }
                ::usleep(2000);
            }
            pid_ = -1;
        }
        if (!dir_.empty() && !keep_dir_) {
            std::error_code ec;
            fs::remove_all(dir_, ec);
            dir_.clear();
        }
    }

    void keep_dir(bool k) { keep_dir_ = k; }
    pid_t pid() const { return pid_; }
    const json& config() const { return config_; }
    double start_seconds() const { return start_seconds_; }
    const fs::path& dir() const { return dir_; }

private:
    pid_t pid_ = -1;
    fs::path dir_;
    json config_;
    double start_seconds_ = 0;
    bool keep_dir_ = false;
};

// Client settings that trust the emulator's CA only.
inline ttig::net::client_config client_for(const json& emulator_config) {
    ttig::net::client_config cc;
    cc.tls.ca_files = {emulator_config.at("ca_file").get<std::string>()};
    cc.tls.use_system_store = false;
    cc.user_agent = "ttigctl-bench";
    return cc;
}

// Runs ioc until it runs out of work or `limit` passes (then stops it). Returns false on timeout.
inline bool run_bounded(boost::asio::io_context& ioc, std::chrono::steady_clock::duration limit) {
    const auto deadline = steady::now() + limit;
    while (!ioc.stopped() && steady::now() < deadline) {
        if (ioc.run_one_for(std::chrono::milliseconds(100)) == 0 && ioc.stopped()) break;
    }
    const bool done = ioc.stopped();
    if (!done) ioc.stop();
    ioc.restart();
    return done;
}

// Runs ioc until done() is true, or `limit` passes. Returns done().
template <class Pred>
bool run_until(boost::asio::io_context& ioc, Pred done, std::chrono::steady_clock::duration limit) {
    const auto deadline = steady::now() + limit;
    while (!done() && steady::now() < deadline) {
        if (ioc.run_one_for(std::chrono::milliseconds(50)) == 0 && ioc.stopped()) {
            ioc.restart();  // out of work: wait for done() without spinning
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    return done();
}

// CPU used by this process and the emulator between two snapshots.
struct cpu_snapshot {
    steady::time_point at;
    double self = 0;
    double emulator = 0;
    static cpu_snapshot take(pid_t emulator_pid) {
        cpu_snapshot s;
        s.at = steady::now();
        s.self = self_cpu_seconds();
        if (emulator_pid > 0) s.emulator = proc_cpu_seconds(emulator_pid).value_or(0);
        return s;
    }
};
struct cpu_share {
    double wall = 0;           // seconds
    double self_cores = 0;     // CPU seconds per wall second (1.0 = one core busy)
    double emulator_cores = 0;
};
inline cpu_share share(const cpu_snapshot& a, const cpu_snapshot& b) {
    cpu_share s;
    s.wall = std::chrono::duration<double>(b.at - a.at).count();
    if (s.wall > 0) {
        s.self_cores = (b.self - a.self) / s.wall;
        s.emulator_cores = (b.emulator - a.emulator) / s.wall;
    }
    return s;
}

}  // namespace bench
