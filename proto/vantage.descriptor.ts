// Generated from proto/vantage.proto by proto/gen-descriptor.ts: do not edit.
//   node --import tsx proto/gen-descriptor.ts < proto/vantage.proto > proto/vantage.descriptor.ts

export const VANTAGE_DESCRIPTOR = {
  "nested": {
    "vantage": {
      "nested": {
        "v1": {
          "nested": {
            "ProbeResult": {
              "oneofs": {
                "_degraded": {
                  "oneof": [
                    "degraded"
                  ]
                },
                "_vantage_impaired": {
                  "oneof": [
                    "vantage_impaired"
                  ]
                }
              },
              "fields": {
                "check": {
                  "type": "string",
                  "id": 1
                },
                "type": {
                  "type": "string",
                  "id": 2
                },
                "target": {
                  "type": "string",
                  "id": 3
                },
                "vantage": {
                  "type": "string",
                  "id": 4
                },
                "region": {
                  "type": "string",
                  "id": 5
                },
                "agent_id": {
                  "type": "string",
                  "id": 6
                },
                "result_id": {
                  "type": "string",
                  "id": 7
                },
                "round": {
                  "type": "int64",
                  "id": 8
                },
                "started_at": {
                  "type": "string",
                  "id": 9
                },
                "success": {
                  "type": "bool",
                  "id": 10
                },
                "challenged": {
                  "type": "bool",
                  "id": 11
                },
                "duration_seconds": {
                  "type": "double",
                  "id": 12
                },
                "degraded": {
                  "type": "bool",
                  "id": 13,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "vantage_impaired": {
                  "type": "bool",
                  "id": 14,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "error": {
                  "type": "NullableString",
                  "id": 15
                },
                "error_code": {
                  "type": "NullableString",
                  "id": 16
                },
                "http": {
                  "type": "HttpInfo",
                  "id": 17
                },
                "tls": {
                  "type": "TlsInfo",
                  "id": 18
                },
                "smtp": {
                  "type": "SmtpInfo",
                  "id": 19
                },
                "dns": {
                  "type": "DnsInfo",
                  "id": 20
                },
                "steps": {
                  "type": "StepList",
                  "id": 21
                }
              }
            },
            "HttpPhases": {
              "fields": {
                "resolve": {
                  "type": "double",
                  "id": 1
                },
                "connect": {
                  "type": "double",
                  "id": 2
                },
                "tls": {
                  "type": "double",
                  "id": 3
                },
                "processing": {
                  "type": "double",
                  "id": 4
                },
                "transfer": {
                  "type": "double",
                  "id": 5
                }
              }
            },
            "HttpInfo": {
              "oneofs": {
                "_http_version": {
                  "oneof": [
                    "http_version"
                  ]
                }
              },
              "fields": {
                "status_code": {
                  "type": "uint32",
                  "id": 1
                },
                "http_version": {
                  "type": "string",
                  "id": 2,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "redirects": {
                  "type": "uint32",
                  "id": 3
                },
                "final_url": {
                  "type": "string",
                  "id": 4
                },
                "body_bytes": {
                  "type": "uint64",
                  "id": 5
                },
                "phases": {
                  "type": "HttpPhases",
                  "id": 6
                },
                "headers": {
                  "type": "StringMap",
                  "id": 7
                }
              }
            },
            "CertInfo": {
              "oneofs": {
                "_serial": {
                  "oneof": [
                    "serial"
                  ]
                }
              },
              "fields": {
                "subject": {
                  "type": "string",
                  "id": 1
                },
                "issuer": {
                  "type": "string",
                  "id": 2
                },
                "not_before": {
                  "type": "double",
                  "id": 3
                },
                "not_after": {
                  "type": "double",
                  "id": 4
                },
                "dns_names": {
                  "rule": "repeated",
                  "type": "string",
                  "id": 5
                },
                "fingerprint_sha256": {
                  "type": "string",
                  "id": 6
                },
                "serial": {
                  "type": "string",
                  "id": 7,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "TlsInfo": {
              "fields": {
                "version": {
                  "type": "string",
                  "id": 1
                },
                "cipher": {
                  "type": "string",
                  "id": 2
                },
                "alpn": {
                  "type": "NullableString",
                  "id": 3
                },
                "chain_valid": {
                  "type": "bool",
                  "id": 4
                },
                "hostname_valid": {
                  "type": "bool",
                  "id": 5
                },
                "verify_error": {
                  "type": "NullableString",
                  "id": 6
                },
                "earliest_cert_expiry": {
                  "type": "NullableDouble",
                  "id": 7
                },
                "last_chain_expiry": {
                  "type": "NullableDouble",
                  "id": 8
                },
                "leaf": {
                  "type": "NullableCert",
                  "id": 9
                },
                "chain": {
                  "type": "CertList",
                  "id": 10
                }
              }
            },
            "SmtpInfo": {
              "fields": {
                "banner": {
                  "type": "string",
                  "id": 1
                },
                "banner_code": {
                  "type": "uint32",
                  "id": 2
                },
                "extensions": {
                  "rule": "repeated",
                  "type": "string",
                  "id": 3
                },
                "starttls": {
                  "type": "bool",
                  "id": 4
                }
              }
            },
            "DnsInfo": {
              "oneofs": {
                "_server": {
                  "oneof": [
                    "server"
                  ]
                },
                "_transport": {
                  "oneof": [
                    "transport"
                  ]
                }
              },
              "fields": {
                "rcode": {
                  "type": "string",
                  "id": 1
                },
                "answers": {
                  "rule": "repeated",
                  "type": "string",
                  "id": 2
                },
                "server": {
                  "type": "string",
                  "id": 3,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "transport": {
                  "type": "string",
                  "id": 4,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "CheckCount": {
              "fields": {
                "passes": {
                  "type": "uint32",
                  "id": 1
                },
                "fails": {
                  "type": "uint32",
                  "id": 2
                }
              }
            },
            "StepResult": {
              "fields": {
                "name": {
                  "type": "string",
                  "id": 1
                },
                "success": {
                  "type": "bool",
                  "id": 2
                },
                "challenged": {
                  "type": "bool",
                  "id": 3
                },
                "duration_seconds": {
                  "type": "double",
                  "id": 4
                },
                "status_code": {
                  "type": "NullableUint32",
                  "id": 5
                },
                "error": {
                  "type": "NullableString",
                  "id": 6
                },
                "error_code": {
                  "type": "NullableString",
                  "id": 7
                },
                "checks": {
                  "type": "CheckCountMap",
                  "id": 8
                }
              }
            },
            "ResultBatch": {
              "fields": {
                "agent_id": {
                  "type": "string",
                  "id": 1
                },
                "vantage": {
                  "type": "string",
                  "id": 2
                },
                "seq": {
                  "type": "uint64",
                  "id": 3
                },
                "sent_at": {
                  "type": "int64",
                  "id": 4
                },
                "results": {
                  "rule": "repeated",
                  "type": "ProbeResult",
                  "id": 5
                },
                "dropped": {
                  "type": "uint64",
                  "id": 6
                }
              }
            },
            "SignedBatch": {
              "fields": {
                "jws": {
                  "type": "string",
                  "id": 1
                }
              }
            },
            "PushAck": {
              "oneofs": {
                "_reason": {
                  "oneof": [
                    "reason"
                  ]
                },
                "_error": {
                  "oneof": [
                    "error"
                  ]
                }
              },
              "fields": {
                "seq": {
                  "type": "uint64",
                  "id": 1
                },
                "accepted": {
                  "type": "uint32",
                  "id": 2
                },
                "duplicates": {
                  "type": "uint32",
                  "id": 3
                },
                "reason": {
                  "type": "string",
                  "id": 4,
                  "options": {
                    "proto3_optional": true
                  }
                },
                "error": {
                  "type": "string",
                  "id": 5,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "Ingest": {
              "methods": {
                "Push": {
                  "requestType": "SignedBatch",
                  "responseType": "PushAck"
                },
                "PushStream": {
                  "requestType": "SignedBatch",
                  "requestStream": true,
                  "responseType": "PushAck",
                  "responseStream": true
                }
              }
            },
            "NullableString": {
              "oneofs": {
                "_value": {
                  "oneof": [
                    "value"
                  ]
                }
              },
              "fields": {
                "value": {
                  "type": "string",
                  "id": 1,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "NullableDouble": {
              "oneofs": {
                "_value": {
                  "oneof": [
                    "value"
                  ]
                }
              },
              "fields": {
                "value": {
                  "type": "double",
                  "id": 1,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "NullableUint32": {
              "oneofs": {
                "_value": {
                  "oneof": [
                    "value"
                  ]
                }
              },
              "fields": {
                "value": {
                  "type": "uint32",
                  "id": 1,
                  "options": {
                    "proto3_optional": true
                  }
                }
              }
            },
            "NullableCert": {
              "fields": {
                "value": {
                  "type": "CertInfo",
                  "id": 1
                }
              }
            },
            "CertList": {
              "fields": {
                "items": {
                  "rule": "repeated",
                  "type": "CertInfo",
                  "id": 1
                }
              }
            },
            "StepList": {
              "fields": {
                "items": {
                  "rule": "repeated",
                  "type": "StepResult",
                  "id": 1
                }
              }
            },
            "StringMap": {
              "fields": {
                "entries": {
                  "keyType": "string",
                  "type": "string",
                  "id": 1
                }
              }
            },
            "CheckCountMap": {
              "fields": {
                "entries": {
                  "keyType": "string",
                  "type": "CheckCount",
                  "id": 1
                }
              }
            }
          }
        }
      }
    }
  }
}
