// /api/m2mdb/tokens: API tokens managed while the server runs, for
// `m2mdb token --host` (the data directory is locked by the server, so the
// tool cannot write it). A change is written to the app metadata as the
// offline command does (tokens.cc), then the whole store is re-read and
// swapped in; requests in flight keep their snapshot.
//
//   GET  /api/m2mdb/tokens          {"tokens":[{"id","scope","dbs","description","created"}]}
//   POST /api/m2mdb/tokens          read=1 write=1 delete=1 admin=1 dbs=a,b description=...
//                                   -> {"id","token","scope","dbs"} (the secret, shown once)
//   POST /api/m2mdb/tokens/revoke   id=...
//
// Admin only (an admin user or --admin token) once authentication is on.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

#include "m2mdb/json.h"
#include "server/api_response.h"
#include "server/http_server_impl.h"

namespace m2mdb::server {
namespace {

std::string DbsJson(const std::vector<std::string>& dbs) {
  std::string out = "[";
  for (size_t i = 0; i < dbs.size(); i++) {
    if (i > 0) out += ",";
    out += JsonQuote(dbs[i]);
  }
  return out + "]";
}

bool Flag(const Params& p, const char* key) {
  std::string v = p.Get(key);
  return v == "1" || v == "true";
}

}  // namespace

Status HttpServer::Impl::ReloadTokens() { return auth_state_->ReloadTokens(); }

bool HttpServer::Impl::TokenAdmin(const Request& req, Response& res, const Params& params) {
  AuthResult auth = Authenticate(req, params, res);
  if (!auth.ok) return false;
  if (!AuthActive() || (auth.user && auth.user->admin) || (auth.token != nullptr && auth.token->admin)) {
    return true;
  }
  auth_log_.Refused("403 forbidden", req, auth.token != nullptr ? auth.token->id : "",
                    "managing tokens needs admin");
  SetError(res, 403, "managing tokens needs an admin user or an --admin token");
  return false;
}

void HttpServer::Impl::HandleTokenList(const Request& req, Response& res, const BodyReader&) {
  Params params(req, nullptr);
  if (!TokenAdmin(req, res, params)) return;
  auto kvs = db_->ListAppMeta(kTokenKeyPrefix);
  if (!kvs.ok()) return SetError(res, 500, std::string(ToStd(kvs.status().message())));
  std::string out = "{\"tokens\":[";
  bool first = true;
  for (const auto& [key, value] : *kvs) {
    auto t = DecodeToken(std::string_view(key).substr(kTokenKeyPrefix.size()), value);
    if (!t.ok()) continue;
    if (!first) out += ",";
    first = false;
    absl::StrAppend(&out, "{\"id\":", JsonQuote(t->id), ",\"scope\":", JsonQuote(t->ScopeString()),
                    ",\"dbs\":", DbsJson(t->dbs), ",\"description\":", JsonQuote(t->description),
                    ",\"created\":", t->created, "}");
  }
  out += "]}\n";
  res.status = 200;
  res.SetContent(std::move(out), "application/json");
}

void HttpServer::Impl::HandleTokenCreate(const Request& req, Response& res, const BodyReader& reader) {
  std::string_view body;
  if (!ReadBody(req, res, reader, &body)) return;
  ParamMap form;
  ParseQueryString(body, &form);
  Params params(req, &form);
  if (!TokenAdmin(req, res, params)) return;
  TokenScope scope{.read = Flag(params, "read"),
                   .write = Flag(params, "write"),
                   .del = Flag(params, "delete"),
                   .admin = Flag(params, "admin")};
  std::vector<std::string> dbs;
  for (absl::string_view d : absl::StrSplit(params.Get("dbs"), ',', absl::SkipEmpty())) dbs.emplace_back(d);
  TokenInfo info;
  auto secret = TokenStore::Create(db_, dbs, scope, params.Get("description"), &info);
  if (!secret.ok()) {
    return SetError(res, secret.status().code() == absl::StatusCode::kInvalidArgument ? 400 : 500,
                    std::string(ToStd(secret.status().message())));
  }
  if (Status s = ReloadTokens(); !s.ok()) return SetError(res, 500, std::string(ToStd(s.message())));
  res.status = 200;
  res.SetContent(
      absl::StrCat("{\"id\":", JsonQuote(info.id), ",\"token\":", JsonQuote(*secret),
                   ",\"scope\":", JsonQuote(info.ScopeString()), ",\"dbs\":", DbsJson(info.dbs), "}\n"),
      "application/json");
}

void HttpServer::Impl::HandleTokenRevoke(const Request& req, Response& res, const BodyReader& reader) {
  std::string_view body;
  if (!ReadBody(req, res, reader, &body)) return;
  ParamMap form;
  ParseQueryString(body, &form);
  Params params(req, &form);
  if (!TokenAdmin(req, res, params)) return;
  Status s = TokenStore::Revoke(db_, params.Get("id"));
  if (!s.ok())
    return SetError(res, s.code() == absl::StatusCode::kNotFound ? 404 : 500,
                    std::string(ToStd(s.message())));
  if (Status r = ReloadTokens(); !r.ok()) return SetError(res, 500, std::string(ToStd(r.message())));
  res.status = 204;
}

}  // namespace m2mdb::server
