// A plain HTTP server a test runs (python3) as the URL subscriber of a trigger: it appends the
// ce-id of every POST to a file, answers 202, and is killed when the test is done.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace fnd::test {

class RecordingServer {
 public:
  explicit RecordingServer(std::string file) : file_(std::move(file)) {
    int ports[2];
    REQUIRE(::pipe(ports) == 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(ports[1], 1);
      ::close(ports[0]);
      const std::string script =
          "import http.server, sys\n"
          "class H(http.server.BaseHTTPRequestHandler):\n"
          "    def do_POST(self):\n"
          "        self.rfile.read(int(self.headers.get('content-length', 0)))\n"
          "        with open(sys.argv[1], 'a') as f: f.write(self.headers.get('ce-id', '?') + '\\n')\n"
          "        self.send_response(202); self.send_header('content-length', '0'); self.end_headers()\n"
          "    def log_message(self, *a): pass\n"
          "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
          "print(s.server_address[1], flush=True)\n"
          "s.serve_forever()\n";
      ::execlp("python3", "python3", "-c", script.c_str(), file_.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(ports[1]);
    // Up to the newline: a server that wrote its port in two pieces (unbuffered Python) would
    // otherwise die of a broken pipe writing the second.
    std::string line;
    char c = 0;
    while (::read(ports[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(ports[0]);
    REQUIRE(!line.empty());
    port_ = std::stoi(line);
  }
  ~RecordingServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }
  std::set<std::string> ids() const {
    std::ifstream in(file_);
    std::set<std::string> out;
    for (std::string line; std::getline(in, line);) out.insert(line);
    return out;
  }

 private:
  std::string file_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace fnd::test
