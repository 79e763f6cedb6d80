// The origin mark of subscription deliveries: a subscription's sender sends
// "X-M2mdb-Origin: <id of its server>" with every batch, and the write
// handler answers a batch carrying its own server's id with 204 without
// writing it.
// A subscription whose destination is the server itself (under any of its
// addresses) writes the same database and policy names, so the points are
// already there; without the mark each delivery would be a new WAL record
// delivered again — a loop that fills the disk. Loops through another server
// (A -> B -> A) are not detected: the mark names only the last sender.
#ifndef M2MDB_SERVER_SUBSCRIPTIONS_ORIGIN_H_
#define M2MDB_SERVER_SUBSCRIPTIONS_ORIGIN_H_

#include <cstdio>
#include <random>
#include <string>

namespace m2mdb::server {

inline constexpr char kOriginHeader[] = "X-M2mdb-Origin";

// A fresh random id, one per server instance (a restarted server is a new
// origin, which is all the loop check needs; two servers in one process, as
// in tests, are two origins).
inline std::string NewOriginId() {
  std::random_device rd;
  char b[33];
  std::snprintf(b, sizeof(b), "%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return std::string(b);
}

}  // namespace m2mdb::server

#endif  // M2MDB_SERVER_SUBSCRIPTIONS_ORIGIN_H_
