// The TCP connection the load drivers (bench/http_load, bench/mqtt_load)
// open to a server: "host:port", TCP_NODELAY (a request goes out at once).
#ifndef M2MDB_BENCH_LOAD_SOCKET_H_
#define M2MDB_BENCH_LOAD_SOCKET_H_

#include <string>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace m2mdb::bench {

// A connected socket, or -1.
inline int ConnectTcp(const std::string& target) {
  size_t colon = target.rfind(':');
  std::string host = target.substr(0, colon), port = target.substr(colon + 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) return -1;
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  return fd;
}

}  // namespace m2mdb::bench

#endif  // M2MDB_BENCH_LOAD_SOCKET_H_
