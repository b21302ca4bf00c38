#include "mesh/workload_identity.hpp"

#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "certificates.hpp"
#include "core/time.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace internal = fnd::mesh::internal;
using fnd::mesh::IdentityCache;
using fnd::mesh::NodeCa;

namespace {

constexpr const char* kTrustDomain = "cluster.local";

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fnd-identity-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string sub(const std::string& name) const { return (path / name).string(); }
};

class FakeClock final : public fnd::Clock {
 public:
  fnd::SteadyTime now() const override { return now_; }
  void advance(std::chrono::nanoseconds d) { now_ += d; }

 private:
  fnd::SteadyTime now_{std::chrono::hours(1000)};
};

fnd::SystemTime wall_start() {
  auto t = fnd::parse_rfc3339("2031-03-01T12:00:00Z");
  REQUIRE(t.has_value());
  return *t;
}

NodeCa make_ca(const std::string& dir, const fnd::Clock& clock) {
  auto ca = NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start());
  if (!ca.ok()) FAIL(ca.error().message);
  return std::move(ca).value();
}

internal::X509Ptr parse_one(const std::string& pem) {
  auto certificates = internal::certificates_from_pem(pem);
  REQUIRE(certificates.size() == 1);
  return std::move(certificates.front());
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("the node CA is created at first start and the same CA is loaded again", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("identity");
  std::string first_pem;
  std::string leaf_pem;
  {
    NodeCa ca = make_ca(dir, clock);
    first_pem = ca.ca_pem();
    CHECK(ca.trust_domain() == kTrustDomain);
    CHECK(ca.now() == wall_start());
    auto leaf = ca.issue(fnd::mesh::spiffe_id_for_function(kTrustDomain, "hello"));
    REQUIRE(leaf.ok());
    leaf_pem = leaf->certificate_pem;
  }
  CHECK(files_in(dir) == std::set<std::string>{"ca.crt", "ca.key"});  // no temporary file left behind
  CHECK(read_text(dir + "/ca.crt") == first_pem);

  auto certificate = parse_one(first_pem);
  CHECK(internal::is_ca(certificate.get()));
  CHECK(X509_get_pathlen(certificate.get()) == 0);
  CHECK(X509_get_key_usage(certificate.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(internal::uri_sans(certificate.get()) == std::vector<std::string>{"spiffe://cluster.local"});
  CHECK(internal::not_before(certificate.get()) == wall_start() - fnd::mesh::kNotBeforeBackdate);
  CHECK(internal::not_after(certificate.get()) - wall_start() ==
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::years(10)));

  clock.advance(48h);
  auto again = NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start() + 48h);
  REQUIRE(again.ok());
  CHECK(again->ca_pem() == first_pem);
  // A certificate issued before the restart is still trusted by the reloaded CA.
  auto peer = fnd::mesh::verify_peer(leaf_pem, again->ca_pem(), wall_start() + 1h);
  REQUIRE(peer.ok());
  CHECK(peer->spiffe_ids == std::vector<std::string>{"spiffe://cluster.local/fn/hello"});
}

TEST_CASE("the CA key is written 0600 in a 0700 directory", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("state/identity");
  make_ca(dir, clock);
  CHECK(mode_of(dir + "/ca.key") == 0600);
  CHECK(mode_of(dir + "/ca.crt") == 0644);
  CHECK(mode_of(dir) == 0700);
  CHECK(read_text(dir + "/ca.key").find("-----BEGIN PRIVATE KEY-----") == 0);
}

TEST_CASE("a CA key readable by group or others is refused", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("identity");
  make_ca(dir, clock);
  const std::string key = dir + "/ca.key";
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    REQUIRE(::chmod(key.c_str(), mode) == 0);
    auto ca = NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start());
    REQUIRE_FALSE(ca.ok());
    CHECK(ca.error().code == fnd::mesh::kIdentityUnavailable);
    CHECK_THAT(ca.error().message, Catch::Contains(key) && Catch::Contains("chmod 600"));
  }
  REQUIRE(::chmod(key.c_str(), 0600) == 0);
  CHECK(NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start()).ok());
}

TEST_CASE("a CA with a file missing, another trust domain or a foreign key is refused", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("a");
  const std::string other = tmp.sub("b");
  make_ca(dir, clock);
  make_ca(other, clock);

  auto wrong_domain = NodeCa::load_or_create(dir, "other.example", clock, wall_start());
  REQUIRE_FALSE(wrong_domain.ok());
  CHECK(wrong_domain.error().code == fnd::mesh::kIdentityUnavailable);
  CHECK_THAT(wrong_domain.error().message, Catch::Contains("'cluster.local'") && Catch::Contains("'other.example'"));

  fs::copy_file(other + "/ca.key", dir + "/ca.key", fs::copy_options::overwrite_existing);
  auto foreign_key = NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start());
  REQUIRE_FALSE(foreign_key.ok());
  CHECK_THAT(foreign_key.error().message, Catch::Contains("is not the key of the certificate"));

  fs::remove(dir + "/ca.crt");
  auto missing = NodeCa::load_or_create(dir, kTrustDomain, clock, wall_start());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == fnd::mesh::kIdentityUnavailable);
  CHECK_THAT(missing.error().message, Catch::Contains(dir + "/ca.crt does not"));
  CHECK(files_in(dir) == std::set<std::string>{"ca.key"});  // nothing was overwritten

  auto expired = NodeCa::load_or_create(other, kTrustDomain, clock, wall_start() + std::chrono::years(11));
  REQUIRE_FALSE(expired.ok());
  CHECK_THAT(expired.error().message, Catch::Contains("expired"));
}

TEST_CASE("an issued certificate carries its SPIFFE ID and verify_peer returns it", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  clock.advance(90min);
  const std::string id = fnd::mesh::spiffe_id_for_function(kTrustDomain, "hello");
  CHECK(id == "spiffe://cluster.local/fn/hello");
  auto issued = ca.issue(id);
  REQUIRE(issued.ok());
  CHECK(issued->spiffe_id == id);
  CHECK(issued->private_key_pem.find("-----BEGIN PRIVATE KEY-----") == 0);
  CHECK(issued->not_before == wall_start() + 90min - fnd::mesh::kNotBeforeBackdate);
  CHECK(issued->not_after == wall_start() + 90min + 24h);

  auto leaf = parse_one(issued->certificate_pem);
  CHECK(internal::uri_sans(leaf.get()) == std::vector<std::string>{id});
  CHECK_FALSE(internal::is_ca(leaf.get()));
  CHECK(X509_get_key_usage(leaf.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(leaf.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  auto key = internal::private_key_from_pem(issued->private_key_pem);
  REQUIRE(key);
  CHECK(X509_check_private_key(leaf.get(), key.get()) == 1);
  CHECK(EVP_PKEY_is_a(key.get(), "EC"));

  auto peer = fnd::mesh::verify_peer(issued->certificate_pem, ca.ca_pem(), ca.now());
  REQUIRE(peer.ok());
  CHECK(peer->spiffe_ids == std::vector<std::string>{id});
  CHECK(peer->dns_names.empty());
  CHECK(peer->not_after == issued->not_after);

  auto service = ca.issue(fnd::mesh::spiffe_id_for_service(kTrustDomain, "db"), 1h);
  REQUIRE(service.ok());
  CHECK(service->spiffe_id == "spiffe://cluster.local/svc/db");
  CHECK(service->not_after - service->not_before == 1h + fnd::mesh::kNotBeforeBackdate);
  // Two certificates, two keys.
  CHECK(service->private_key_pem != issued->private_key_pem);
}

TEST_CASE("a certificate from another CA is refused", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ours = make_ca(tmp.sub("ours"), clock);
  NodeCa theirs = make_ca(tmp.sub("theirs"), clock);  // same trust domain, another key
  auto issued = theirs.issue("spiffe://cluster.local/fn/hello");
  REQUIRE(issued.ok());

  auto peer = fnd::mesh::verify_peer(issued->certificate_pem, ours.ca_pem(), ours.now());
  REQUIRE_FALSE(peer.ok());
  CHECK(peer.error().code == fnd::mesh::kCertificateUnknownCa);
  CHECK(peer.error().http_status == 401);
  CHECK(fnd::mesh::is_peer_rejection(peer.error()));
  CHECK_THAT(peer.error().message, Catch::Contains("spiffe://cluster.local/fn/hello"));

  // Trusting both CAs (a bundle of two PEM blocks) accepts it.
  auto both = fnd::mesh::verify_peer(issued->certificate_pem, ours.ca_pem() + theirs.ca_pem(), ours.now());
  REQUIRE(both.ok());
  CHECK(both->spiffe_ids == std::vector<std::string>{"spiffe://cluster.local/fn/hello"});
}

TEST_CASE("an expired or not yet valid certificate is refused", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  auto issued = ca.issue("spiffe://cluster.local/fn/short", 60s);
  REQUIRE(issued.ok());
  CHECK(issued->not_after == wall_start() + 60s);

  CHECK(fnd::mesh::verify_peer(issued->certificate_pem, ca.ca_pem(), issued->not_after - 1s).ok());
  auto expired = fnd::mesh::verify_peer(issued->certificate_pem, ca.ca_pem(), issued->not_after + 1s);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().code == fnd::mesh::kCertificateExpired);
  CHECK_THAT(expired.error().message, Catch::Contains("expired at 2031-03-01T12:01:00"));

  auto early = fnd::mesh::verify_peer(issued->certificate_pem, ca.ca_pem(), issued->not_before - 1s);
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == fnd::mesh::kCertificateNotYetValid);
}

TEST_CASE("a certificate with an altered signature is refused", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  auto issued = ca.issue("spiffe://cluster.local/fn/hello");
  REQUIRE(issued.ok());
  auto leaf = parse_one(issued->certificate_pem);
  unsigned char* der = nullptr;
  int size = i2d_X509(leaf.get(), &der);
  REQUIRE(size > 0);
  std::vector<unsigned char> bytes(der, der + size);
  OPENSSL_free(der);
  bytes.back() ^= 0x01;  // the last byte of the ECDSA signature's s
  const unsigned char* cursor = bytes.data();
  internal::X509Ptr tampered(d2i_X509(nullptr, &cursor, static_cast<long>(bytes.size())));
  REQUIRE(tampered);
  auto pem = internal::certificate_to_pem(tampered.get());
  REQUIRE(pem.ok());

  auto peer = fnd::mesh::verify_peer(*pem, ca.ca_pem(), ca.now());
  REQUIRE_FALSE(peer.ok());
  CHECK(peer.error().code == fnd::mesh::kCertificateBadSignature);
}

TEST_CASE("verify_peer refuses a CA as leaf, foreign trust domains and malformed input", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("identity");
  NodeCa ca = make_ca(dir, clock);

  auto ca_as_leaf = fnd::mesh::verify_peer(ca.ca_pem(), ca.ca_pem(), ca.now());
  REQUIRE_FALSE(ca_as_leaf.ok());
  CHECK(ca_as_leaf.error().code == fnd::mesh::kCertificateInvalid);

  // A leaf signed by our CA key for another trust domain (issue() refuses to make one).
  auto ca_key = internal::private_key_from_pem(read_text(dir + "/ca.key"));
  REQUIRE(ca_key);
  auto ca_certificate = parse_one(ca.ca_pem());
  auto key = internal::generate_p256_key();
  REQUIRE(key.ok());
  internal::CertificateTemplate spec{"", "spiffe://evil.example/fn/hello", wall_start() - 1min, wall_start() + 1h,
                                     false};
  auto forged = internal::build_certificate(spec, key->get(), ca_certificate.get(), ca_key.get());
  REQUIRE(forged.ok());
  auto forged_pem = internal::certificate_to_pem(forged->get());
  REQUIRE(forged_pem.ok());
  auto wrong_domain = fnd::mesh::verify_peer(*forged_pem, ca.ca_pem(), ca.now());
  REQUIRE_FALSE(wrong_domain.ok());
  CHECK(wrong_domain.error().code == fnd::mesh::kCertificateWrongTrustDomain);

  auto garbage = fnd::mesh::verify_peer("not a certificate", ca.ca_pem(), ca.now());
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().code == fnd::mesh::kCertificateInvalid);

  auto issued = ca.issue("spiffe://cluster.local/fn/hello");
  REQUIRE(issued.ok());
  auto no_bundle = fnd::mesh::verify_peer(issued->certificate_pem, "", ca.now());
  REQUIRE_FALSE(no_bundle.ok());
  CHECK(no_bundle.error().code == fnd::mesh::kIdentityUnavailable);
  CHECK_FALSE(fnd::mesh::is_peer_rejection(no_bundle.error()));
}

TEST_CASE("the cache issues on first use and again at half of the certificate's life", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  IdentityCache cache(ca);
  const std::string id = "spiffe://cluster.local/fn/hello";

  auto first = cache.identity_for(id);
  REQUIRE(first.ok());
  CHECK(cache.size() == 1);
  CHECK((*first)->not_after == wall_start() + 24h);
  auto same = cache.identity_for(id);
  REQUIRE(same.ok());
  CHECK(same->get() == first->get());

  // Half of the life is (24h + backdate) / 2 after not_before: 11h59m30s after issuing.
  clock.advance(11h + 59min + 29s);
  CHECK_FALSE((*first)->needs_rotation(ca.now()));
  auto before_half = cache.identity_for(id);
  REQUIRE(before_half.ok());
  CHECK(before_half->get() == first->get());

  clock.advance(1s);
  CHECK((*first)->needs_rotation(ca.now()));
  auto rotated = cache.identity_for(id);
  REQUIRE(rotated.ok());
  CHECK(rotated->get() != first->get());
  CHECK((*rotated)->certificate_pem != (*first)->certificate_pem);
  CHECK((*rotated)->not_after == wall_start() + 24h + 11h + 59min + 30s);
  CHECK_FALSE((*rotated)->needs_rotation(ca.now()));
  // The old certificate is still whole for whoever holds it.
  CHECK(fnd::mesh::verify_peer((*first)->certificate_pem, ca.ca_pem(), ca.now()).ok());

  auto other = cache.identity_for(fnd::mesh::spiffe_id_for_service(kTrustDomain, "db"));
  REQUIRE(other.ok());
  CHECK(cache.size() == 2);
  cache.forget(id);
  CHECK(cache.size() == 1);

  auto bad = cache.identity_for("spiffe://cluster.local/fn/");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == fnd::mesh::kInvalidSpiffeId);
  CHECK(cache.size() == 1);
}

TEST_CASE("malformed trust domains are refused and nothing is written", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  const std::string dir = tmp.sub("identity");
  const std::vector<std::string> bad = {"",
                                        "Cluster.local",
                                        "cluster local",
                                        "a..b",
                                        ".a",
                                        "a.",
                                        "-a.b",
                                        "a-.b",
                                        "a:8080",
                                        "spiffe://a",
                                        "a/b",
                                        "user@a",
                                        std::string(64, 'a'),
                                        std::string(256, 'a')};
  for (const std::string& domain : bad) {
    INFO("trust domain '" << domain << "'");
    CHECK(fnd::mesh::validate_trust_domain(domain).error().code == fnd::mesh::kInvalidTrustDomain);
    auto ca = NodeCa::load_or_create(dir, domain, clock, wall_start());
    REQUIRE_FALSE(ca.ok());
    CHECK(ca.error().code == fnd::mesh::kInvalidTrustDomain);
    CHECK(ca.error().http_status == 400);
  }
  CHECK_FALSE(fs::exists(dir));
  const std::vector<std::string> good = {"cluster.local", "a", "my_domain.example", "x-1.y2", std::string(63, 'a')};
  for (const std::string& domain : good) {
    INFO("trust domain '" << domain << "'");
    CHECK(fnd::mesh::validate_trust_domain(domain).ok());
  }
}

TEST_CASE("malformed SPIFFE IDs and lifetimes are refused by issue", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  const std::vector<std::string> bad = {
      "spiffe://cluster.local",          "spiffe://cluster.local/",
      "spiffe://other.local/fn/hello",   "http://cluster.local/fn/hello",
      "SPIFFE://cluster.local/fn/hello", "spiffe://Cluster.local/fn/hello",
      "spiffe://cluster.local/fn/",      "spiffe://cluster.local//hello",
      "spiffe://cluster.local/fn/../x",  "spiffe://cluster.local/fn/./x",
      "spiffe://cluster.local/fn/a b",   "spiffe://cluster.local/fn/x?y=1",
      "spiffe://cluster.local/fn/x#y",   "spiffe://cluster.local:443/fn/x",
      "spiffe://cluster.local/fn/%41",   "spiffe://cluster.local/" + std::string(2048, 'a')};
  for (const std::string& id : bad) {
    INFO("SPIFFE ID '" << id << "'");
    auto issued = ca.issue(id);
    REQUIRE_FALSE(issued.ok());
    CHECK(issued.error().code == fnd::mesh::kInvalidSpiffeId);
  }
  CHECK(ca.issue("spiffe://cluster.local/fn/Hello_World.v2-x").ok());
  auto no_ttl = ca.issue("spiffe://cluster.local/fn/hello", 0s);
  REQUIRE_FALSE(no_ttl.ok());
  CHECK(no_ttl.error().code == fnd::mesh::kInvalidCertificateTtl);
}

TEST_CASE("a certificate never outlives its CA", "[unit]") {
  TempDir tmp;
  FakeClock clock;
  NodeCa ca = make_ca(tmp.sub("identity"), clock);
  clock.advance(ca.ca_not_after() - ca.now() - 1h);
  auto issued = ca.issue("spiffe://cluster.local/fn/hello", 24h);
  REQUIRE(issued.ok());
  CHECK(issued->not_after == ca.ca_not_after());
  clock.advance(2h);
  auto late = ca.issue("spiffe://cluster.local/fn/hello");
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == fnd::mesh::kIdentityUnavailable);
}
