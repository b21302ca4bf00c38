#include "crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>

namespace fnd::store::internal {

namespace {

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContextPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;


}  // namespace

Status random_bytes(std::span<unsigned char> out) {
  if (out.size() > static_cast<size_t>(INT_MAX) || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    ERR_clear_error();
    return make_error("internal_error",
                      "the system's random number generator is not available (RAND_bytes failed); "
                      "check that /dev/urandom or getrandom() works");
  }
  return {};
}

Sha256Digest sha256(std::string_view data) {
  Sha256Digest digest{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  return digest;
}

std::string to_hex(std::span<const unsigned char> bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = digit(hex[i]);
    int low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>((high << 4) | low));
  }
  return out;
}

Result<std::string> gcm_seal(const AesKey& key, const GcmNonce& nonce, std::string_view aad,
                             std::string_view plaintext) {
  auto failed = [] {
    ERR_clear_error();
    return make_error("internal_error", "AES-256-GCM encryption failed inside OpenSSL; nothing was stored");
  };
  if (plaintext.size() > static_cast<size_t>(INT_MAX) - kGcmTagBytes || aad.size() > static_cast<size_t>(INT_MAX))
    return failed();
  CipherContextPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return failed();
  std::string out(plaintext.size() + kGcmTagBytes, '\0');
  auto* data = reinterpret_cast<unsigned char*>(out.data());
  int written = 0;
  int final_written = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kGcmNonceBytes), nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &written, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), data, &written, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), data + written, &final_written) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagBytes), data + plaintext.size()) !=
          1) {
    return failed();
  }
  return out;
}

std::optional<std::string> gcm_open(const AesKey& key, const GcmNonce& nonce, std::string_view aad,
                                    std::string_view sealed) {
  if (sealed.size() < kGcmTagBytes || sealed.size() > static_cast<size_t>(INT_MAX) ||
      aad.size() > static_cast<size_t>(INT_MAX))
    return std::nullopt;
  const size_t length = sealed.size() - kGcmTagBytes;
  CipherContextPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::nullopt;
  std::string out(length, '\0');
  // GCM_SET_TAG takes a non-const pointer but only reads from it.
  unsigned char tag[kGcmTagBytes];
  std::copy(sealed.end() - kGcmTagBytes, sealed.end(), tag);
  int written = 0;
  int final_written = 0;
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kGcmNonceBytes), nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &written, reinterpret_cast<const unsigned char*>(aad.data()),
                              static_cast<int>(aad.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &written,
                              reinterpret_cast<const unsigned char*>(sealed.data()), static_cast<int>(length)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagBytes), tag) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + written, &final_written) == 1;
  if (!ok) {
    // The bytes decrypted before the tag failed are unauthenticated: they never leave.
    cleanse(out.data(), out.size());
    ERR_clear_error();
    return std::nullopt;
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void cleanse(void* data, size_t size) { OPENSSL_cleanse(data, size); }

}  // namespace fnd::store::internal
