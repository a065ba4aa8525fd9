// src/source_address.cc — see source_address.h.
#include "src/source_address.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace kvraft {

int bind_source_address(uv_tcp_t* tcp, const std::string& host, const sockaddr* dest) {
  if (host.empty() || host == "*" || host == "0.0.0.0" || host == "::") return 0;
  const std::string h = host == "localhost" ? "127.0.0.1" : host;
  sockaddr_storage src{};
  const bool v6 = h.find(':') != std::string::npos;
  if ((v6 ? AF_INET6 : AF_INET) != dest->sa_family) return 0;
  const int rc = v6 ? uv_ip6_addr(h.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&src))
                    : uv_ip4_addr(h.c_str(), 0, reinterpret_cast<sockaddr_in*>(&src));
  if (rc != 0) return 0;  // not numeric: leave the choice to the kernel
  return uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&src), 0);
}

}  // namespace kvraft
