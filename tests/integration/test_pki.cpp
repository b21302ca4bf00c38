#include "integration/test_pki.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <stdexcept>

namespace fnd::test {

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  REQUIRE(key);
  return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  REQUIRE(extension != nullptr);
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

CertPtr new_certificate(EVP_PKEY* key, const std::string& common_name, long serial) {
  CertPtr cert(X509_new());
  REQUIRE(cert);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  return cert;
}

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(size));
  BIO_free(bio);
  return out;
}

}  // namespace

struct TestCa::State {
  KeyPtr key;
  CertPtr certificate;
};

TestCa::TestCa(const std::string& name) : state_(std::make_unique<State>()) {
  state_->key = new_key();
  state_->certificate = new_certificate(state_->key.get(), name, 1);
  X509* cert = state_->certificate.get();
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert, cert, NID_subject_key_identifier, "hash");
  REQUIRE(X509_sign(cert, state_->key.get(), EVP_sha256()) > 0);
  certificate_pem_ = pem_of(cert);
}

TestCa::~TestCa() = default;

PemPair TestCa::issue_server(long serial) const {
  KeyPtr key = new_key();
  CertPtr cert = new_certificate(key.get(), "fnd test server", serial);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(state_->certificate.get()));
  add_extension(cert.get(), state_->certificate.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), state_->certificate.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), state_->certificate.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), state_->certificate.get(), NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
  add_extension(cert.get(), state_->certificate.get(), NID_authority_key_identifier, "keyid:always");
  REQUIRE(X509_sign(cert.get(), state_->key.get(), EVP_sha256()) > 0);
  return {pem_of(cert.get()), pem_of(key.get())};
}

void write_private_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
}

}  // namespace fnd::test
