// A throwaway PKI for TLS tests, made with OpenSSL in memory: a CA and certificates it signs for
// 127.0.0.1 and localhost. Written as PEM files for fnd's tls.cert / tls.key and for clients'
// CA bundles.
#pragma once

#include <memory>
#include <string>

namespace fnd::test {

struct PemPair {
  std::string certificate;
  std::string private_key;
};

class TestCa {
 public:
  // A new CA (P-256 key, valid for a day) named `name`.
  explicit TestCa(const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& certificate_pem() const { return certificate_pem_; }
  // A server certificate for 127.0.0.1 and localhost with serial `serial`, signed by this CA.
  PemPair issue_server(long serial) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::string certificate_pem_;
};

// Writes `text` to `path` with mode 0600.
void write_private_file(const std::string& path, const std::string& text);

}  // namespace fnd::test
