package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSupportMessages(t *testing.T) {
	good := []Message{
		{Type: TypeSupportBundle, ID: "1", SupportBundle: &SupportBundle{BundleID: "b1"}},
		{Type: TypeLogLevel, ID: "2", LogLevel: &LogLevel{Level: "debug", ForMillis: 1800000}},
		{Type: TypeLogLevel, ID: "3", LogLevel: &LogLevel{Level: "info"}},
		{Type: TypeHello, ID: "4", Hello: &Hello{Versions: []int{1}, Features: []string{FeatureSupportBundle, FeatureLogLevel}}},
	}
	for _, m := range good {
		raw, _ := json.Marshal(m)
		got, err := Decode(raw)
		if err != nil {
			t.Errorf("Decode(%s): %v", raw, err)
			continue
		}
		if back, _ := json.Marshal(got); string(back) != string(raw) {
			t.Errorf("round trip changed %s into %s", raw, back)
		}
	}
	bad := map[string]string{
		"bundle without payload": `{"type":"supportBundle","id":"1"}`,
		"bundle without id":      `{"type":"supportBundle","id":"1","supportBundle":{"bundleId":""}}`,
		"unknown level":          `{"type":"logLevel","id":"1","logLevel":{"level":"trace","forMillis":1000}}`,
		"level too long":         `{"type":"logLevel","id":"1","logLevel":{"level":"debug","forMillis":86400001}}`,
		"negative for":           `{"type":"logLevel","id":"1","logLevel":{"level":"debug","forMillis":-1}}`,
		"two payloads":           `{"type":"logLevel","id":"1","logLevel":{"level":"debug"},"supportBundle":{"bundleId":"b"}}`,
		"too many features":      `{"type":"hello","id":"1","hello":{"versions":[1],"features":[` + strings.Repeat(`"f",`, maxFeatures) + `"f"]}}`,
		"empty feature":          `{"type":"hello","id":"1","hello":{"versions":[1],"features":[""]}}`,
	}
	for name, raw := range bad {
		if _, err := Decode([]byte(raw)); err == nil {
			t.Errorf("%s: Decode(%s) accepted it", name, raw)
		}
	}
}
