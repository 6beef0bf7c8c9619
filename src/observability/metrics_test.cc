#include "observability/metrics.h"

#include <gtest/gtest.h>

namespace keel::obs {
namespace {

TEST(Metrics, RendersPrometheusText) {
  Registry r;
  r.GetCounter("keel_runs_total", "Runs", "intent=\"a\"").Add(3);
  r.GetGauge("keel_active", "Active").Set(-2);
  auto& h = r.GetHistogram("keel_lat_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE keel_runs_total counter\nkeel_runs_total{intent=\"a\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("keel_active -2\n"), std::string::npos);
  EXPECT_NE(text.find("keel_lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("keel_lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("keel_lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("keel_lat_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, SameNameAndLabelsIsSameMetric) {
  Registry r;
  r.GetCounter("c", "h", "x=\"1\"").Add();
  r.GetCounter("c", "h", "x=\"1\"").Add();
  EXPECT_EQ(r.GetCounter("c", "h", "x=\"1\"").Value(), 2u);
  EXPECT_EQ(r.GetCounter("c", "h", "x=\"2\"").Value(), 0u);
}

}  // namespace
}  // namespace keel::obs
