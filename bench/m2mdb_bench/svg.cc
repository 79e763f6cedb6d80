// The comparison as a hand-written SVG bar chart: one group per metric, one
// bar per target, every figure divided by m2mdb's (so m2mdb's bars sit at
// 1×) on a log axis, since ratios from 0.1× to 50× must all stay readable.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/m2mdb_bench/metrics.h"
#include "bench/m2mdb_bench/results.h"

namespace m2mdb::bench {
namespace {

std::string Xml(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o.push_back(c);
    }
  }
  return o;
}

std::string F(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof(b), f, v);
  return b;
}

const char* Color(const std::string& name, size_t i) {
  if (name == "m2mdb") return "#1f77b4";
  if (name == "influxdb") return "#ff7f0e";
  if (name == "victoriametrics") return "#2ca02c";
  static const char* kOthers[] = {"#9467bd", "#8c564b", "#e377c2"};
  return kOthers[i % 3];
}

}  // namespace

std::string FormatSvg(const CompareResult& r) {
  std::vector<Metric> metrics = CompareMetrics(r);
  // Normalised values: m2mdb = 1, others = their ratio.
  int ref = -1;
  for (size_t i = 0; i < r.targets.size(); i++) {
    if (r.targets[i].name == "m2mdb" && r.targets[i].skipped.empty()) ref = static_cast<int>(i);
  }
  double lo = 1, hi = 1;
  for (const Metric& m : metrics) {
    for (const MetricCell& c : m.cells) {
      if (c.ratio && *c.ratio > 0) {
        lo = std::min(lo, *c.ratio);
        hi = std::max(hi, *c.ratio);
      }
    }
  }
  const int lo_exp = std::min(-1, static_cast<int>(std::floor(std::log10(lo))));
  const int hi_exp = std::max(1, static_cast<int>(std::ceil(std::log10(hi))));
  const size_t nt = r.targets.size();
  const double bar_w = 18, group_gap = 26;
  const double group_w = nt * bar_w + group_gap;
  const double left = 70, top = 90, plot_h = 300, label_h = 120;
  const double width = std::max(640.0, left + metrics.size() * group_w + 30);
  const double height = top + plot_h + label_h + 30;
  auto y = [&](double v) { return top + (hi_exp - std::log10(v)) / (hi_exp - lo_exp) * plot_h; };

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + F("%.0f", width) + "\" height=\"" +
       F("%.0f", height) + "\" viewBox=\"0 0 " + F("%.0f", width) + " " + F("%.0f", height) +
       "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + F("%.0f", left) + "\" y=\"24\" font-size=\"16\" font-weight=\"bold\">" +
       Xml("m2mdb-bench compare: " + r.profile + ", scale " + std::to_string(r.scale) + ", " + r.duration +
           ", " + std::to_string(r.workers) + " workers × " + std::to_string(r.batch_size) + " lines") +
       "</text>\n";
  s += "<text x=\"" + F("%.0f", left) + "\" y=\"42\" font-size=\"11\" fill=\"#444\">" +
       Xml("each figure ÷ m2mdb's (log scale; m2mdb = 1×). " + r.env.date + ", " + r.env.machine) +
       "</text>\n";
  s += "<text x=\"" + F("%.0f", left) + "\" y=\"58\" font-size=\"11\" fill=\"#444\">" +
       Xml("↑ better: a taller bar is better for that metric; ↓ better: a shorter bar is better.") +
       "</text>\n";
  // Legend.
  double lx = left;
  for (size_t i = 0; i < nt; i++) {
    const auto& t = r.targets[i];
    s += "<rect x=\"" + F("%.0f", lx) + "\" y=\"66\" width=\"12\" height=\"12\" fill=\"" + Color(t.name, i) +
         "\"/>\n";
    std::string label = t.name + (t.skipped.empty() ? "" : " (skipped)");
    s += "<text x=\"" + F("%.0f", lx + 16) + "\" y=\"76\" font-size=\"12\">" + Xml(label) + "</text>\n";
    lx += 30 + 8.5 * label.size();
  }
  if (ref < 0) {
    s += "<text x=\"" + F("%.0f", left) + "\" y=\"" + F("%.0f", top + 40) +
         "\" font-size=\"14\">no m2mdb figures to compare against</text>\n</svg>\n";
    return s;
  }
  // Grid: one line per decade, a dashed one at 1×.
  for (int e = lo_exp; e <= hi_exp; e++) {
    double v = std::pow(10.0, e);
    double yy = y(v);
    s += "<line x1=\"" + F("%.0f", left) + "\" x2=\"" + F("%.0f", width - 20) + "\" y1=\"" + F("%.1f", yy) +
         "\" y2=\"" + F("%.1f", yy) + "\" stroke=\"" + (e == 0 ? "#000" : "#ddd") + "\"" +
         (e == 0 ? " stroke-dasharray=\"4 3\"" : "") + "/>\n";
    std::string label = e >= 0 ? F("%.0f", v) + "×" : F("%g", v) + "×";
    s += "<text x=\"" + F("%.0f", left - 6) + "\" y=\"" + F("%.1f", yy + 4) +
         "\" font-size=\"11\" text-anchor=\"end\">" + label + "</text>\n";
  }
  const double base = top + plot_h;
  for (size_t g = 0; g < metrics.size(); g++) {
    const Metric& m = metrics[g];
    const double gx = left + g * group_w + group_gap / 2;
    for (size_t i = 0; i < nt; i++) {
      const double x = gx + i * bar_w;
      std::optional<double> v = static_cast<int>(i) == ref
                                    ? (m.cells[i].value ? std::optional<double>(1.0) : std::nullopt)
                                    : m.cells[i].ratio;
      if (!v || *v <= 0) {
        s += "<text x=\"" + F("%.1f", x + bar_w / 2) + "\" y=\"" + F("%.1f", base - 4) +
             "\" font-size=\"9\" text-anchor=\"middle\" fill=\"#888\" transform=\"rotate(-90 " +
             F("%.1f", x + bar_w / 2) + " " + F("%.1f", base - 4) + ")\">n/a</text>\n";
        continue;
      }
      const double yy = std::max(top, y(*v));
      s += "<rect x=\"" + F("%.1f", x + 1) + "\" y=\"" + F("%.1f", yy) + "\" width=\"" +
           F("%.1f", bar_w - 2) + "\" height=\"" + F("%.1f", base - yy) + "\" fill=\"" +
           Color(r.targets[i].name, i) + "\"><title>" +
           Xml(r.targets[i].name + " " + m.label + ": " + m.cells[i].text) + "</title></rect>\n";
      std::string vt = *v >= 10 ? F("%.0f", *v) : F("%.2g", *v);
      s += "<text x=\"" + F("%.1f", x + bar_w / 2) + "\" y=\"" + F("%.1f", yy - 3) +
           "\" font-size=\"8\" text-anchor=\"middle\">" + vt + "</text>\n";
    }
    // Metric label, rotated, below the axis.
    const double cx = gx + nt * bar_w / 2;
    s += "<text x=\"" + F("%.1f", cx) + "\" y=\"" + F("%.1f", base + 10) +
         "\" font-size=\"11\" text-anchor=\"end\" transform=\"rotate(-40 " + F("%.1f", cx) + " " +
         F("%.1f", base + 10) + ")\">" + Xml(m.short_label + (m.higher_is_better ? " ↑" : " ↓")) +
         "</text>\n";
  }
  s += "<line x1=\"" + F("%.0f", left) + "\" x2=\"" + F("%.0f", width - 20) + "\" y1=\"" + F("%.1f", base) +
       "\" y2=\"" + F("%.1f", base) + "\" stroke=\"#000\"/>\n";
  s += "</svg>\n";
  return s;
}

}  // namespace m2mdb::bench
