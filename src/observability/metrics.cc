#include "observability/metrics.h"

#include <cmath>
#include <sstream>

namespace keel::obs {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i] = 0;
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(std::max(0.0, v) * 1e6)),
                        std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

double Histogram::Sum() const { return static_cast<double>(sum_micros_.load()) / 1e6; }

Registry::Family& Registry::GetFamily(const std::string& name, const std::string& type,
                                      const std::string& help) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  }
  return it->second;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, "counter", help).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help,
                          const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, "gauge", help).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const std::vector<double>& bounds, const std::string& labels) {
  std::lock_guard lock(mu_);
  auto& slot = GetFamily(name, "histogram", help).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

namespace {
std::string Braced(const std::string& labels, const std::string& extra = "") {
  std::string inner = labels;
  if (!extra.empty()) inner += (inner.empty() ? "" : ",") + extra;
  return inner.empty() ? "" : "{" + inner + "}";
}
std::string Num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}
}  // namespace

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [l, c] : f.counters)
      out += name + Braced(l) + " " + std::to_string(c->Value()) + "\n";
    for (const auto& [l, g] : f.gauges)
      out += name + Braced(l) + " " + std::to_string(g->Value()) + "\n";
    for (const auto& [l, h] : f.histograms) {
      auto counts = h->Counts();
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        out += name + "_bucket" + Braced(l, "le=\"" + Num(h->bounds()[i]) + "\"") + " " +
               std::to_string(counts[i]) + "\n";
      }
      out +=
          name + "_bucket" + Braced(l, "le=\"+Inf\"") + " " + std::to_string(counts.back()) + "\n";
      out += name + "_sum" + Braced(l) + " " + Num(h->Sum()) + "\n";
      out += name + "_count" + Braced(l) + " " + std::to_string(counts.back()) + "\n";
    }
  }
  return out;
}

Registry& Registry::Default() {
  static Registry r;
  return r;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> b{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                     0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                     0.5,     1,      2.5,     5,      10};
  return b;
}

}  // namespace keel::obs
