// librdkafka handles, each owned by a unique_ptr with its deleter. Private to the eventing module.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace fnd::eventing::internal {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
struct RdKafkaConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct RdKafkaErrorDeleter {
  void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
struct RdKafkaHeadersDeleter {
  void operator()(rd_kafka_headers_t* headers) const { rd_kafka_headers_destroy(headers); }
};
struct RdKafkaMessageDeleter {
  void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct RdKafkaMetadataDeleter {
  void operator()(const rd_kafka_metadata_t* metadata) const { rd_kafka_metadata_destroy(metadata); }
};
struct RdKafkaQueueDeleter {
  void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct RdKafkaEventDeleter {
  void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
struct RdKafkaPartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};

using RdKafkaPtr = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using RdKafkaConfPtr = std::unique_ptr<rd_kafka_conf_t, RdKafkaConfDeleter>;
using RdKafkaErrorPtr = std::unique_ptr<rd_kafka_error_t, RdKafkaErrorDeleter>;
using RdKafkaHeadersPtr = std::unique_ptr<rd_kafka_headers_t, RdKafkaHeadersDeleter>;
using RdKafkaMessagePtr = std::unique_ptr<rd_kafka_message_t, RdKafkaMessageDeleter>;
using RdKafkaMetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, RdKafkaMetadataDeleter>;
using RdKafkaQueuePtr = std::unique_ptr<rd_kafka_queue_t, RdKafkaQueueDeleter>;
using RdKafkaEventPtr = std::unique_ptr<rd_kafka_event_t, RdKafkaEventDeleter>;
using RdKafkaPartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, RdKafkaPartitionListDeleter>;

}  // namespace fnd::eventing::internal
