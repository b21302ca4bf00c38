#include "certificates.hpp"

#include <fmt/format.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <climits>
#include <ctime>

#include "mesh/workload_identity.hpp"

namespace fnd::mesh::internal {

namespace {

constexpr std::size_t kSerialBytes = 16;  // random, as CA/Browser Forum rules ask (>= 64 bits)

Error openssl_error(std::string_view what) {
  return make_error(std::string(kIdentityUnavailable), fmt::format("{} failed: {}", what, take_openssl_errors()));
}

// Never prompt on a terminal for a passphrase: an encrypted key is simply refused.
int no_passphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

Status set_time(ASN1_TIME* field, SystemTime t) {
  if (ASN1_TIME_set(field, std::chrono::system_clock::to_time_t(t)) == nullptr) return openssl_error("ASN1_TIME_set");
  return {};
}

SystemTime to_system_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    ERR_clear_error();
    return SystemTime{};
  }
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

Status add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509ExtensionPtr extension(X509V3_EXT_nconf_nid(nullptr, &context, nid, value.c_str()));
  if (!extension) return openssl_error(fmt::format("making the extension {}={}", OBJ_nid2sn(nid), value));
  if (X509_add_ext(certificate, extension.get(), -1) != 1) return openssl_error("X509_add_ext");
  return {};
}

Status set_random_serial(X509* certificate) {
  std::array<unsigned char, kSerialBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) return openssl_error("RAND_bytes");
  bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);  // positive, never zero, always 16 bytes
  BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  if (!number || BN_to_ASN1_INTEGER(number.get(), X509_get_serialNumber(certificate)) == nullptr) {
    return openssl_error("setting the serial number");
  }
  return {};
}

std::vector<std::string> sans_of_type(const X509* certificate, int type) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) {
    ERR_clear_error();
    return out;
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    const ASN1_IA5STRING* text = type == GEN_URI ? name->d.uniformResourceIdentifier : name->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                     static_cast<std::size_t>(ASN1_STRING_length(text)));
  }
  return out;
}

Result<std::string> drain(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return openssl_error("reading PEM from memory");
  return std::string(data, static_cast<std::size_t>(size));
}

BioPtr read_only_bio(std::string_view pem) {
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

Result<EvpPkeyPtr> generate_p256_key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return openssl_error("generating an EC P-256 key");
  return key;
}

Result<X509Ptr> build_certificate(const CertificateTemplate& spec, EVP_PKEY* subject_key, X509* issuer,
                                  EVP_PKEY* issuer_key) {
  X509Ptr certificate(X509_new());
  X509NamePtr subject(X509_NAME_new());
  if (!certificate || !subject) return openssl_error("X509_new");
  if (X509_set_version(certificate.get(), X509_VERSION_3) != 1) return openssl_error("X509_set_version");
  if (Status s = set_random_serial(certificate.get()); !s.ok()) return s.error();
  if (!spec.common_name.empty()) {
    auto text = reinterpret_cast<const unsigned char*>(spec.common_name.c_str());
    if (X509_NAME_add_entry_by_txt(subject.get(), "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("fnd"), -1,
                                   -1, 0) != 1 ||
        X509_NAME_add_entry_by_txt(subject.get(), "CN", MBSTRING_UTF8, text, -1, -1, 0) != 1) {
      return openssl_error("setting the subject name");
    }
  }
  if (X509_set_subject_name(certificate.get(), subject.get()) != 1 ||
      X509_set_issuer_name(certificate.get(), issuer != nullptr ? X509_get_subject_name(issuer) : subject.get()) != 1) {
    return openssl_error("setting the names");
  }
  if (Status s = set_time(X509_getm_notBefore(certificate.get()), spec.not_before); !s.ok()) return s.error();
  if (Status s = set_time(X509_getm_notAfter(certificate.get()), spec.not_after); !s.ok()) return s.error();
  if (X509_set_pubkey(certificate.get(), subject_key) != 1) return openssl_error("X509_set_pubkey");

  X509* signer = issuer != nullptr ? issuer : certificate.get();
  const std::string san_critical = spec.common_name.empty() ? "critical," : "";
  const std::pair<int, std::string> extensions[] = {
      {NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE"},
      {NID_key_usage, spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"},
      {NID_ext_key_usage, spec.is_ca ? "" : "serverAuth,clientAuth"},
      // The subject key identifier goes first: the authority one of a self-signed CA copies it.
      {NID_subject_key_identifier, "hash"},
      {NID_authority_key_identifier, "keyid:always"},
      {NID_subject_alt_name, san_critical + "URI:" + spec.uri_san},
  };
  for (const auto& [nid, value] : extensions) {
    if (value.empty()) continue;
    if (Status s = add_extension(certificate.get(), signer, nid, value); !s.ok()) return s.error();
  }
  if (X509_sign(certificate.get(), issuer_key, EVP_sha256()) <= 0) return openssl_error("signing the certificate");
  return certificate;
}

Result<std::string> certificate_to_pem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) return openssl_error("writing a certificate as PEM");
  return drain(bio.get());
}

Result<std::string> private_key_to_pem(EVP_PKEY* key) {
  // Secure heap memory where OpenSSL has one: the key's PEM is not left behind in freed pages.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return openssl_error("writing a private key as PEM");
  }
  return drain(bio.get());
}

std::vector<X509Ptr> certificates_from_pem(std::string_view pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = read_only_bio(pem);
  if (!bio) {
    take_openssl_errors();
    return out;
  }
  while (X509Ptr certificate{PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr)}) {
    out.push_back(std::move(certificate));
  }
  // The loop always ends on an error; "no start line" after at least one block is the clean end.
  unsigned long last = ERR_peek_last_error();
  bool clean_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
  take_openssl_errors();
  if (!clean_end) out.clear();
  return out;
}

EvpPkeyPtr private_key_from_pem(std::string_view pem) {
  BioPtr bio = read_only_bio(pem);
  EvpPkeyPtr key;
  if (bio) key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) take_openssl_errors();
  return key;
}

SystemTime not_before(const X509* certificate) { return to_system_time(X509_get0_notBefore(certificate)); }
SystemTime not_after(const X509* certificate) { return to_system_time(X509_get0_notAfter(certificate)); }

std::vector<std::string> uri_sans(const X509* certificate) { return sans_of_type(certificate, GEN_URI); }
std::vector<std::string> dns_sans(const X509* certificate) { return sans_of_type(certificate, GEN_DNS); }

bool is_ca(X509* certificate) { return X509_check_ca(certificate) == 1; }

std::string subject_text(const X509* certificate) {
  const X509_NAME* name = X509_get_subject_name(certificate);
  if (name == nullptr || X509_NAME_entry_count(name) == 0) return "(empty subject)";
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    take_openssl_errors();
    return "(unprintable subject)";
  }
  auto text = drain(bio.get());
  if (!text.ok()) return "(unprintable subject)";
  return *text;
}

}  // namespace fnd::mesh::internal
