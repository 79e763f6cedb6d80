// chunked=true rendering for /query (chunked_json.h).
#include "server/chunked_json.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/match.h"

namespace m2mdb::server {

std::vector<std::string> ChunkedJson(const std::vector<query::StatementResult>& results, size_t chunk_size,
                                     const query::JsonOptions& jo) {
  std::vector<std::string> out;
  for (const auto& r : results) {
    if (r.series.empty()) {
      out.push_back(query::ToInfluxJson({r}, jo));
      continue;
    }
    for (size_t si = 0; si < r.series.size(); si++) {
      const auto& s = r.series[si];
      size_t n = s.values.size();
      size_t pos = 0;
      do {
        size_t take = std::min(chunk_size, n - pos);
        query::StatementResult piece;
        piece.statement_id = r.statement_id;
        piece.error = r.error;
        if (si == 0 && pos == 0) piece.messages = r.messages;
        query::ResultSeries ps;
        ps.name = s.name;
        ps.tags = s.tags;
        ps.columns = s.columns;
        ps.time_first = s.time_first;
        ps.time_zone = s.time_zone;
        ps.values.assign(s.values.begin() + pos, s.values.begin() + pos + take);
        pos += take;
        ps.partial = s.partial || pos < n;
        piece.series.push_back(std::move(ps));
        std::string json = query::ToInfluxJson({piece}, jo);
        bool statement_partial = pos < n || si + 1 < r.series.size();
        // {"results":[{...}]} -> {"results":[{...,"partial":true}]}
        if (statement_partial && !jo.pretty && absl::EndsWith(json, "}]}")) {
          json.insert(json.size() - 3, ",\"partial\":true");
        }
        out.push_back(std::move(json));
      } while (pos < n);
    }
  }
  return out;
}

bool ChunkStreamer::Piece(query::StatementResult&& r, bool more) {
  if (more) {
    query::ResultSeries& s = r.series[0];
    if (!pending_) {
      id_ = r.statement_id;
      pending_ = std::move(s);
    } else {
      pending_->values.insert(pending_->values.end(), std::make_move_iterator(s.values.begin()),
                              std::make_move_iterator(s.values.end()));
    }
    // Full chunks with a row after them are not the last: out now.
    size_t start = 0;
    while (ok_ && pending_->values.size() - start > chunk_size_) {
      Emit(start, start + chunk_size_, /*last=*/false);
      start += chunk_size_;
    }
    pending_->values.erase(pending_->values.begin(),
                           pending_->values.begin() + static_cast<ptrdiff_t>(start));
    return ok_;
  }
  if (pending_) {
    // The paged statement ended: its last chunk, or before its error.
    Emit(0, pending_->values.size(), /*last=*/r.error.empty());
    pending_.reset();
    if (r.error.empty()) return ok_;
  }
  for (const std::string& c : ChunkedJson({r}, chunk_size_, jo_)) {
    if (!ok_) break;
    ok_ = write_(c);
  }
  return ok_;
}

void ChunkStreamer::Emit(size_t a, size_t b, bool last) {
  query::StatementResult piece;
  piece.statement_id = id_;
  query::ResultSeries ps;
  ps.name = pending_->name;
  ps.tags = pending_->tags;
  ps.columns = pending_->columns;
  ps.time_first = pending_->time_first;
  ps.time_zone = pending_->time_zone;
  ps.values.assign(std::make_move_iterator(pending_->values.begin() + static_cast<ptrdiff_t>(a)),
                   std::make_move_iterator(pending_->values.begin() + static_cast<ptrdiff_t>(b)));
  ps.partial = !last;
  piece.series.push_back(std::move(ps));
  std::string json = query::ToInfluxJson({piece}, jo_);
  if (!last && !jo_.pretty && absl::EndsWith(json, "}]}")) json.insert(json.size() - 3, ",\"partial\":true");
  if (ok_) ok_ = write_(json);
}

}  // namespace m2mdb::server
