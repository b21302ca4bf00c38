/* A trivial HTTP/1.1 keep-alive server answering "ok" on $PORT: the upstream of bench/warm.sh.
 * One thread per connection; requests are assumed to have no body (wrk sends GETs). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char kAnswer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";

static void* serve(void* arg) {
  int fd = (int)(long)arg;
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t n = read(fd, buf + have, sizeof buf - have);
    if (n <= 0) break;
    have += (size_t)n;
    char* end;
    while ((end = memmem(buf, have, "\r\n\r\n", 4)) != NULL) {
      if (write(fd, kAnswer, sizeof kAnswer - 1) < 0) goto done;
      size_t used = (size_t)(end + 4 - buf);
      memmove(buf, buf + used, have - used);
      have -= used;
    }
    if (have == sizeof buf) break;
  }
done:
  close(fd);
  return NULL;
}

int main(void) {
  const char* port = getenv("PORT");
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port ? atoi(port) : 8080)};
  if (bind(s, (struct sockaddr*)&addr, sizeof addr) != 0 || listen(s, 512) != 0) return 1;
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    pthread_create(&t, NULL, serve, (void*)(long)c);
    pthread_detach(t);
  }
}
