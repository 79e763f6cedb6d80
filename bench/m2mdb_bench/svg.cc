// The comparison as an SVG chart meant to be read in a few seconds: one panel
// per family of figures (ingest, write latency, query latency, storage,
// memory and CPU, restart), each saying which way is better; in a panel one
// group of horizontal bars per figure, one bar per target, each bar from zero
// on the group's own linear scale and labelled with its absolute value (the
// best one in bold); min–max whiskers where a figure is the median of several
// runs; and in the legend, how durable each target's acknowledgement is,
// since an ingest rate acknowledged before fsync is not the same figure.
//
// Layout: panels in two columns (queries on the right, everything else on the
// left), drawn top to bottom; sizes are in SVG user units (px).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

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

const char* DisplayName(const std::string& name) {
  if (name == "influxdb") return "InfluxDB";
  if (name == "victoriametrics") return "VictoriaMetrics";
  return name.c_str();
}

// Whether a write is on disk when the target acknowledges it. The compare
// targets say so in a sentence (Target::Durability); VictoriaMetrics' is the
// one that acknowledges "before the data is on disk".
bool AckIsDurable(const TargetFigures& t) {
  return t.durability.find("before") == std::string::npos && t.durability.find("not ") == std::string::npos;
}

std::string AckLabel(const TargetFigures& t) {
  if (t.durability.empty()) return "";
  if (!AckIsDurable(t)) return "ack before fsync (not durable)";
  if (t.name == "influxdb") return "ack after WAL fsync";
  return "ack after fsync";
}

bool StartsWithNoCase(const std::string& s, const std::string& prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); i++) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

// Numbers as people write them: 3 significant digits, no exponent.
std::string Num(double v) {
  if (v >= 100) return F("%.0f", v);
  if (v >= 10) return F("%.1f", v);
  if (v >= 1) return F("%.2f", v);
  return F("%.3g", v);
}

std::string Rate(double v) {
  if (v >= 1e6) return F("%.2f M", v / 1e6);
  if (v >= 1e3) return F("%.1f k", v / 1e3);
  return F("%.0f", v);
}

struct Bar {
  std::optional<double> value;
  std::optional<double> lo, hi;  // min–max of the runs, when there were several
  std::string text;              // the label; "n/a" without a value
  std::string note;              // after the label, in grey ("not fsync'd")
};

struct Group {
  std::string label;
  std::vector<Bar> bars;  // one per target
};

struct Panel {
  std::string title;
  bool higher_is_better = false;
  std::string note;  // second line of the heading
  std::vector<Group> groups;
};

// Geometry of one column.
constexpr double kColumnW = 520;
constexpr double kLabelW = 150;  // group labels, right-aligned
constexpr double kBarMaxW = 230;
constexpr double kBarH = 11;
constexpr double kRowH = 14;
constexpr double kGroupGap = 8;
constexpr double kPanelHead = 38;
constexpr double kPanelGap = 18;

double PanelHeight(const Panel& p, size_t targets) {
  return kPanelHead + p.groups.size() * (targets * kRowH + kGroupGap) + kPanelGap;
}

// Draws `p` with its top-left corner at (x, y); returns its height.
double DrawPanel(std::string* s, const Panel& p, const CompareResult& r, double x, double y) {
  *s += "<g class=\"panel\">\n";
  *s += "<text x=\"" + F("%.0f", x) + "\" y=\"" + F("%.0f", y + 14) +
        "\" font-size=\"14\" font-weight=\"bold\">" + Xml(p.title) + "</text>\n";
  *s += "<text x=\"" + F("%.0f", x) + "\" y=\"" + F("%.0f", y + 29) + "\" font-size=\"11\" fill=\"#444\">" +
        Xml(std::string(p.higher_is_better ? "higher is better" : "lower is better") +
            (p.note.empty() ? "" : "; " + p.note)) +
        "</text>\n";
  double gy = y + kPanelHead;
  const double x0 = x + kLabelW;
  for (const Group& g : p.groups) {
    double scale_max = 0;
    std::optional<double> best;
    for (const Bar& b : g.bars) {
      if (!b.value) continue;
      scale_max = std::max({scale_max, *b.value, b.hi.value_or(0)});
      if (!best || (p.higher_is_better ? *b.value > *best : *b.value < *best)) best = b.value;
    }
    const double group_h = g.bars.size() * kRowH;
    *s += "<text x=\"" + F("%.0f", x0 - 8) + "\" y=\"" + F("%.1f", gy + group_h / 2 + 4) +
          "\" font-size=\"11\" text-anchor=\"end\">" + Xml(g.label) + "</text>\n";
    for (size_t i = 0; i < g.bars.size(); i++) {
      const Bar& b = g.bars[i];
      const double by = gy + i * kRowH;
      const double cy = by + kBarH / 2;
      auto px = [&](double v) { return x0 + (scale_max > 0 ? v / scale_max * kBarMaxW : 0); };
      double text_x = x0 + 4;
      if (b.value) {
        const double w = std::max(1.0, px(*b.value) - x0);
        *s += "<rect class=\"bar\" x=\"" + F("%.1f", x0) + "\" y=\"" + F("%.1f", by) + "\" width=\"" +
              F("%.1f", w) + "\" height=\"" + F("%.0f", kBarH) + "\" fill=\"" + Color(r.targets[i].name, i) +
              "\"><title>" +
              Xml(std::string(DisplayName(r.targets[i].name)) + ", " + g.label + ": " + b.text) +
              "</title></rect>\n";
        text_x = x0 + w + 4;
        if (b.lo && b.hi && *b.hi > *b.lo) {
          const double l = px(*b.lo), h = px(*b.hi);
          *s += "<path class=\"whisker\" d=\"M" + F("%.1f", l) + " " + F("%.1f", cy) + "H" + F("%.1f", h) +
                "M" + F("%.1f", l) + " " + F("%.1f", cy - 3) + "v6M" + F("%.1f", h) + " " +
                F("%.1f", cy - 3) + "v6\" stroke=\"#222\" stroke-width=\"1\" fill=\"none\"/>\n";
          text_x = std::max(text_x, h + 4);
        }
      }
      const bool is_best = b.value && best && *b.value == *best && g.bars.size() > 1;
      *s += "<text x=\"" + F("%.1f", text_x) + "\" y=\"" + F("%.1f", cy + 4) + "\" font-size=\"10\"" +
            (is_best ? " font-weight=\"bold\"" : "") + (b.value ? "" : " fill=\"#888\"") + ">" + Xml(b.text) +
            (b.note.empty() ? "" : "<tspan dx=\"4\" fill=\"#a00\">(" + Xml(b.note) + ")</tspan>") +
            "</text>\n";
    }
    gy += group_h + kGroupGap;
  }
  *s += "</g>\n";
  return PanelHeight(p, r.targets.size());
}

// One group from a per-target getter; nullopt (no group) when no target has
// the figure.
std::optional<Group> MakeGroup(const CompareResult& r, const std::string& label,
                               const std::function<std::optional<double>(const TargetFigures&)>& get,
                               const std::function<std::string(double)>& text,
                               const std::function<std::string(const TargetFigures&)>& note = nullptr) {
  Group g{.label = label, .bars = {}};
  bool any = false;
  for (const TargetFigures& t : r.targets) {
    Bar b;
    if (t.skipped.empty()) b.value = get(t);
    b.text = b.value ? text(*b.value) : (t.skipped.empty() ? "n/a" : "skipped");
    if (b.value && note) b.note = note(t);
    any = any || b.value.has_value();
    g.bars.push_back(b);
  }
  if (!any) return std::nullopt;
  return g;
}

void Add(Panel* p, std::optional<Group> g) {
  if (g) p->groups.push_back(std::move(*g));
}

}  // namespace

std::string FormatSvg(const CompareResult& r) {
  auto not_durable = [](const TargetFigures& t) {
    return AckIsDurable(t) ? std::string() : "ack not fsync'd";
  };
  std::vector<Panel> left, right;
  {
    Panel p{.title = "Ingest",
            .higher_is_better = true,
            .note = std::to_string(r.workers) + " writers, " + std::to_string(r.batch_size) +
                    " lines per request",
            .groups = {}};
    Add(&p, MakeGroup(
                r, "field values/s", [](const TargetFigures& t) { return t.ingest_values_per_s; },
                [](double v) { return Rate(v); }, not_durable));
    left.push_back(std::move(p));
  }
  {
    Panel p{.title = "Write latency", .higher_is_better = false, .note = "per request, ms", .groups = {}};
    Add(&p, MakeGroup(
                r, "p50", [](const TargetFigures& t) { return t.write_p50_ms; },
                [](double v) { return Num(v) + " ms"; }, not_durable));
    Add(&p, MakeGroup(
                r, "p99", [](const TargetFigures& t) { return t.write_p99_ms; },
                [](double v) { return Num(v) + " ms"; }, not_durable));
    left.push_back(std::move(p));
  }
  {
    Panel p{.title = "Storage", .higher_is_better = false, .note = "du of the data directory", .groups = {}};
    Add(&p, MakeGroup(
                r, "bytes per value", [](const TargetFigures& t) { return t.bytes_per_value; },
                [](double v) { return F("%.3f B", v); }));
    left.push_back(std::move(p));
  }
  {
    Panel p{.title = "Memory and CPU", .higher_is_better = false, .note = "while ingesting", .groups = {}};
    Add(&p, MakeGroup(
                r, "peak RSS", [](const TargetFigures& t) { return t.peak_rss_mb; },
                [](double v) { return F("%.0f MB", v); }));
    Add(&p, MakeGroup(
                r, "server CPU per value", [](const TargetFigures& t) { return t.cpu_us_per_value; },
                [](double v) { return F("%.3f µs", v); }));
    left.push_back(std::move(p));
  }
  {
    Panel p{.title = "Restart", .higher_is_better = false, .note = "start to first answer, s", .groups = {}};
    Add(&p, MakeGroup(
                r, "first /ping", [](const TargetFigures& t) { return t.restart_ping_s; },
                [](double v) { return F("%.3f s", v); }));
    Add(&p, MakeGroup(
                r, "first query answer", [](const TargetFigures& t) { return t.restart_answer_s; },
                [](double v) { return F("%.3f s", v); }));
    left.push_back(std::move(p));
  }
  {
    const bool spread = r.query_runs > 1;
    Panel p{.title = "Query latency",
            .higher_is_better = false,
            .note = "ms, median of " + std::to_string(r.query_runs) + " run" +
                    (r.query_runs == 1 ? "" : "s") + (spread ? "; whisker: min–max" : ""),
            .groups = {}};
    std::vector<std::string> names;
    for (const auto& t : r.targets) {
      for (const auto& q : t.queries) {
        if (std::find(names.begin(), names.end(), q.name) == names.end()) names.push_back(q.name);
      }
    }
    for (const std::string& name : names) {
      Group g{.label = name, .bars = {}};
      bool any = false;
      for (const TargetFigures& t : r.targets) {
        Bar b;
        b.text = t.skipped.empty() ? "n/a" : "skipped";
        for (const QueryFigure& q : t.queries) {
          if (q.name != name || !t.skipped.empty() || !q.median_ms) continue;
          b.value = q.median_ms;
          if (spread) b.lo = q.min_ms, b.hi = q.max_ms;
          b.text = Num(*q.median_ms) + " ms";
          if (q.status.rfind("WRONG", 0) == 0) b.note = "wrong answer";
        }
        any = any || b.value.has_value();
        g.bars.push_back(b);
      }
      if (any) p.groups.push_back(std::move(g));
    }
    if (!p.groups.empty()) right.push_back(std::move(p));
  }
  std::erase_if(left, [](const Panel& p) { return p.groups.empty(); });

  const size_t nt = r.targets.size();
  double left_h = 0, right_h = 0;
  for (const Panel& p : left) left_h += PanelHeight(p, nt);
  for (const Panel& p : right) right_h += PanelHeight(p, nt);
  bool any_m2mdb = false;
  for (const TargetFigures& t : r.targets) any_m2mdb = any_m2mdb || (t.name == "m2mdb" && t.skipped.empty());
  const double margin = 20;
  const double head = 58 + 16 * (nt + (any_m2mdb ? 0 : 1)) + 10;
  const double width = margin * 2 + kColumnW * (right.empty() ? 1 : 2);
  const double height = head + std::max({left_h, right_h, 40.0}) + margin;

  std::string s;
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + F("%.0f", width) + "\" height=\"" +
       F("%.0f", height) + "\" viewBox=\"0 0 " + F("%.0f", width) + " " + F("%.0f", height) +
       "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + F("%.0f", margin) + "\" y=\"26\" font-size=\"16\" font-weight=\"bold\">" +
       Xml("m2mdb-bench compare: " + r.profile + ", scale " + std::to_string(r.scale) + ", " + r.duration +
           " of data, the same work for every target") +
       "</text>\n";
  s += "<text x=\"" + F("%.0f", margin) + "\" y=\"44\" font-size=\"11\" fill=\"#444\">" +
       Xml(r.env.date + ", " + r.env.machine +
           ". Each bar starts at 0 on its own figure's scale; labels are " +
           "absolute values, the best in bold.") +
       "</text>\n";
  // Legend: colour, name, version, what an acknowledgement means.
  double ly = 58;
  for (size_t i = 0; i < nt; i++) {
    const TargetFigures& t = r.targets[i];
    s += "<rect x=\"" + F("%.0f", margin) + "\" y=\"" + F("%.0f", ly) +
         "\" width=\"12\" height=\"12\" fill=\"" + Color(t.name, i) + "\"/>\n";
    std::string label = DisplayName(t.name);
    if (!t.skipped.empty()) {
      label += " (skipped: " + t.skipped + ")";
    } else {
      // "m2mdb 0.1.0" as it is; "VictoriaMetrics (victoria-metrics 1.79.5)".
      if (StartsWithNoCase(t.version, label)) {
        label = t.version;
      } else if (!t.version.empty()) {
        label += " (" + t.version + ")";
      }
      std::string ack = AckLabel(t);
      if (!ack.empty()) label += " — " + ack;
    }
    s += "<text x=\"" + F("%.0f", margin + 18) + "\" y=\"" + F("%.0f", ly + 10) + "\" font-size=\"12\"" +
         (t.skipped.empty() && !AckIsDurable(t) ? " fill=\"#a00\"" : "") + ">" + Xml(label) + "</text>\n";
    ly += 16;
  }
  if (!any_m2mdb) {
    s += "<text x=\"" + F("%.0f", margin) + "\" y=\"" + F("%.0f", ly + 10) +
         "\" font-size=\"12\" fill=\"#a00\">no m2mdb figures in this run</text>\n";
  }
  double y = head;
  for (const Panel& p : left) y += DrawPanel(&s, p, r, margin, y);
  y = head;
  for (const Panel& p : right) y += DrawPanel(&s, p, r, margin + kColumnW, y);
  s += "</svg>\n";
  return s;
}

}  // namespace m2mdb::bench
