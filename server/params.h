// Request parameters: the form body of POST /query, then the URL (Params),
// and the `params` form value of bound query parameters (ParseJsonParams).
#ifndef M2MDB_SERVER_PARAMS_H_
#define M2MDB_SERVER_PARAMS_H_

#include <string>
#include <string_view>

#include "m2mdb/query/parse.h"
#include "server/http_types.h"

namespace m2mdb::server {

// Parameters of a request: the form body (POST /query) first, then the URL,
// as Go's Request.FormValue.
class Params {
 public:
  Params(const Request& req, const ParamMap* form) : req_(req), form_(form) {}
  std::string Get(const char* key) const {
    if (form_ != nullptr) {
      auto it = form_->find(key);
      if (it != form_->end()) return it->second;
    }
    return req_.Param(key);
  }
  bool Has(const char* key) const {
    return (form_ != nullptr && form_->count(key) > 0) || req_.HasParam(key);
  }

 private:
  const Request& req_;
  const ParamMap* form_;
};

// The `params` form value: a flat JSON object of strings, numbers and bools
// (InfluxDB's bound parameters) into po->params. False with the message
// clients see in *err for anything else.
bool ParseJsonParams(std::string_view s, query::ParseOptions* po, std::string* err);

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_PARAMS_H_
