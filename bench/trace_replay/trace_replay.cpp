// Trace replay for the keep-alive policy: runs a synthetic week of invocations (the inter-arrival
// shapes of "Serverless in the Wild": periodic timers, bursts, rare and frequent callers) through
// fnd's own KeepAlivePolicy and idle_limits() (the code the scheduler runs), once with the
// histogram policy and once with a fixed 10-minute keep-alive, and prints cold starts and idle
// instance time per shape as a Markdown table.
//
// The instance lifecycle follows the scheduler's rules in virtual time: one instance per
// function; an invocation finds it warm or starts it (a cold start); an idle instance stops
// after idle_limits().after_use (prewarmed ones after .prewarmed); with a pre-warm window an
// instance starts again at last invocation + prewarm. Short calls (100 ms) never overlap here.
//
// Usage: fnd_trace_replay [--days N] [--functions N] [--seed N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "scheduler/keep_alive_policy.hpp"

namespace {

using namespace std::chrono_literals;
using fnd::SteadyTime;
using fnd::scheduler::IdleLimits;
using fnd::scheduler::KeepAlivePolicy;
using fnd::scheduler::KeepAliveWindows;
using Seconds = std::chrono::duration<double>;

constexpr auto kFixedKeepAlive = std::chrono::milliseconds(10min);
constexpr auto kCallDuration = std::chrono::milliseconds(100);

struct Function {
  std::string shape;
  std::vector<SteadyTime> calls;
};

struct Outcome {
  uint64_t calls = 0;
  uint64_t cold_starts = 0;
  double idle_seconds = 0;  // instance alive and not serving
};

SteadyTime at(double seconds) { return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(Seconds(seconds))); }

// The synthetic population, deterministic for a seed.
std::vector<Function> make_trace(int functions, double days, uint32_t seed) {
  std::mt19937_64 rng(seed);
  const double end = days * 86400;
  std::vector<Function> out;
  auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  auto exponential = [&](double mean) { return std::exponential_distribution<double>(1.0 / mean)(rng); };
  for (int i = 0; i < functions; ++i) {
    Function f;
    double t = uniform(0, 3600);
    double pick = uniform(0, 1);
    if (pick < 0.40) {
      // Timers: every 1..60 minutes, a little jitter (the most common trigger in the paper).
      static constexpr double kPeriods[] = {60, 120, 300, 600, 900, 1200, 1800, 3600};
      double period = kPeriods[std::uniform_int_distribution<size_t>(0, std::size(kPeriods) - 1)(rng)];
      f.shape = "periodic (1-60 min)";
      for (; t < end; t += period * uniform(0.99, 1.01)) f.calls.push_back(at(t));
    } else if (pick < 0.70) {
      // Bursts of 3-20 calls seconds apart, bursts ~1.5 h apart.
      f.shape = "bursty (bursts ~1.5 h apart)";
      while (t < end) {
        int n = std::uniform_int_distribution<int>(3, 20)(rng);
        double s = t;
        for (int k = 0; k < n && s < end; ++k, s += exponential(5)) f.calls.push_back(at(s));
        t = s + exponential(5400);
      }
    } else if (pick < 0.90) {
      // Rare: a few calls a day, at random.
      f.shape = "rare (Poisson, mean 6 h)";
      for (t += exponential(21600); t < end; t += exponential(21600)) f.calls.push_back(at(t));
    } else {
      f.shape = "frequent (Poisson, mean 30 s)";
      for (; t < end; t += exponential(30)) f.calls.push_back(at(t));
    }
    out.push_back(std::move(f));
  }
  return out;
}

// Replays one function's calls; `histogram` chooses the policy.
Outcome replay(const Function& f, bool histogram) {
  KeepAlivePolicy policy(kFixedKeepAlive);
  Outcome o;
  std::optional<SteadyTime> alive_since;  // the instance's idle period started here (nullopt: no instance)
  bool prewarmed = false;
  std::optional<SteadyTime> last_call;
  for (SteadyTime t : f.calls) {
    KeepAliveWindows windows = histogram ? policy.windows() : KeepAliveWindows{0ms, kFixedKeepAlive, false, ""};
    IdleLimits limits = fnd::scheduler::idle_limits(windows, kFixedKeepAlive);
    // The instance left from the previous call stops when its idle limit passes before t.
    if (alive_since) {
      SteadyTime stop = *alive_since + (prewarmed ? limits.prewarmed : limits.after_use);
      if (stop <= t) {
        o.idle_seconds += Seconds(stop - *alive_since).count();
        alive_since.reset();
      }
    }
    // Pre-warm: with no instance, one starts at last call + prewarm and waits keep_alive.
    if (!alive_since && last_call && windows.prewarm.count() > 0) {
      SteadyTime start = *last_call + windows.prewarm;
      if (start <= t) {
        SteadyTime stop = start + limits.prewarmed;
        if (stop <= t) {
          o.idle_seconds += Seconds(stop - start).count();
        } else {
          alive_since = start;
          prewarmed = true;
        }
      }
    }
    ++o.calls;
    if (alive_since) {
      o.idle_seconds += Seconds(t - *alive_since).count();
    } else {
      ++o.cold_starts;
    }
    policy.record_invocation(t);
    last_call = t;
    alive_since = t + kCallDuration;
    prewarmed = false;
  }
  // After the last call the instance idles out once more.
  if (alive_since) {
    KeepAliveWindows windows = histogram ? policy.windows() : KeepAliveWindows{0ms, kFixedKeepAlive, false, ""};
    o.idle_seconds += Seconds(fnd::scheduler::idle_limits(windows, kFixedKeepAlive).after_use).count();
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  int functions = 400;
  double days = 7;
  uint32_t seed = 20201;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--functions") functions = std::atoi(argv[i + 1]);
    else if (flag == "--days") days = std::atof(argv[i + 1]);
    else if (flag == "--seed") seed = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else {
      std::fprintf(stderr, "usage: %s [--days N] [--functions N] [--seed N]\n", argv[0]);
      return 2;
    }
  }
  auto trace = make_trace(functions, days, seed);
  std::map<std::string, std::pair<Outcome, Outcome>> by_shape;  // fixed, histogram
  std::map<std::string, int> counts;
  for (const auto& f : trace) {
    auto& [fixed, hybrid] = by_shape[f.shape];
    Outcome a = replay(f, false), b = replay(f, true);
    fixed.calls += a.calls, fixed.cold_starts += a.cold_starts, fixed.idle_seconds += a.idle_seconds;
    hybrid.calls += b.calls, hybrid.cold_starts += b.cold_starts, hybrid.idle_seconds += b.idle_seconds;
    ++counts[f.shape];
  }
  Outcome all_fixed, all_hybrid;
  std::printf("%d functions, %.0f days of synthetic invocations (seed %u); fixed keep-alive 10 min vs the histogram "
              "policy (capped at the same 10 min)\n\n", functions, days, seed);
  std::printf("| shape | functions | calls | cold starts, fixed 10 min | cold starts, histogram | idle instance-hours, "
              "fixed 10 min | idle instance-hours, histogram |\n|---|---|---|---|---|---|---|\n");
  auto row = [](const std::string& name, int n, const Outcome& a, const Outcome& b) {
    auto pct = [](const Outcome& o) { return o.calls ? 100.0 * static_cast<double>(o.cold_starts) / static_cast<double>(o.calls) : 0.0; };
    std::printf("| %s | %d | %llu | %llu (%.1f%%) | %llu (%.1f%%) | %.0f | %.0f (%.2fx) |\n", name.c_str(), n,
                static_cast<unsigned long long>(a.calls), static_cast<unsigned long long>(a.cold_starts), pct(a),
                static_cast<unsigned long long>(b.cold_starts), pct(b), a.idle_seconds / 3600, b.idle_seconds / 3600,
                a.idle_seconds > 0 ? b.idle_seconds / a.idle_seconds : 0.0);
  };
  for (const auto& [shape, outcomes] : by_shape) {
    row(shape, counts[shape], outcomes.first, outcomes.second);
    all_fixed.calls += outcomes.first.calls, all_fixed.cold_starts += outcomes.first.cold_starts;
    all_fixed.idle_seconds += outcomes.first.idle_seconds;
    all_hybrid.calls += outcomes.second.calls, all_hybrid.cold_starts += outcomes.second.cold_starts;
    all_hybrid.idle_seconds += outcomes.second.idle_seconds;
  }
  row("**all**", functions, all_fixed, all_hybrid);
  return 0;
}
