package protocol

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Support from afar: support staff, through the coordinator, ask an online
// agent for a support bundle (an archive it uploads over the data plane)
// or raise its log level for a while.
//
// An agent says what it understands in its hello's Features; the
// coordinator sends these messages only to an agent that listed the
// feature, and answers support that an older agent does not know it,
// rather than waiting for an answer that never comes.
const (
	// TypeSupportBundle (coordinator): collect a support bundle and upload
	// it to BundlePath(BundleID). No reply on the control channel: the
	// upload is the answer.
	TypeSupportBundle Type = "supportBundle"
	// TypeLogLevel (coordinator): log at Level for For, then fall back;
	// the agent answers ack. (agent): the level it logs at changed, Level
	// now, For what remains (0 when it fell back to its own level); the
	// coordinator records the change as an agent event and answers ack.
	TypeLogLevel Type = "logLevel"
)

// The features an agent lists in its hello.
const (
	FeatureSupportBundle = "supportBundle" // it answers TypeSupportBundle
	FeatureLogLevel      = "logLevel"      // it answers TypeLogLevel
)

// Limits of support from afar.
const (
	// MaxBundleBytes bounds a support bundle's archive (gzip tar), as
	// uploaded.
	MaxBundleBytes = 8 << 20
	// MaxLogLevelFor bounds how long a raised log level lasts.
	MaxLogLevelFor = 24 * time.Hour
	// maxFeatures bounds the features of a hello.
	maxFeatures = 16
)

// BundleContentType is the content type of an uploaded support bundle.
const BundleContentType = "application/gzip"

// BundlesPath is where an agent uploads its support bundles: PUT
// BundlesPath + {bundleId}, the archive as the body, authenticated by the
// agent's credential, Content-Length given and at most MaxBundleBytes.
const BundlesPath = "/agent/v1/supportBundles/"

// BundlePath is where the agent uploads bundle id.
func BundlePath(id string) string { return BundlesPath + url.PathEscape(id) }

// SupportBundle asks for a support bundle.
type SupportBundle struct {
	BundleID string `json:"bundleId"`
}

// LogLevel is a log level and how long it lasts.
type LogLevel struct {
	// Level is one of the LogLevels.
	Level string `json:"level"`
	// ForMillis is how long the level lasts, at most MaxLogLevelFor; 0
	// in the agent's report that it fell back to its own level.
	ForMillis int64 `json:"forMillis,omitempty"`
}

// LogLevels are the levels an agent logs at, most verbose first.
var LogLevels = []string{"debug", "info", "warn", "error"}

func (l *LogLevel) validate() error {
	known := false
	for _, v := range LogLevels {
		known = known || l.Level == v
	}
	if !known {
		return fmt.Errorf("logLevel: level %q is not one of %v", truncate(l.Level, 16), LogLevels)
	}
	if l.ForMillis < 0 || l.ForMillis > MaxLogLevelFor.Milliseconds() {
		return fmt.Errorf("logLevel: forMillis must be 0 to %d", MaxLogLevelFor.Milliseconds())
	}
	return nil
}

// validateSupport checks the payload of the support messages.
func (m *Message) validateSupport() error {
	if m.Type == TypeSupportBundle {
		return need(m.SupportBundle != nil, m.Type, func() error { return checkID("bundleId", m.SupportBundle.BundleID) })
	}
	return need(m.LogLevel != nil, m.Type, func() error { return m.LogLevel.validate() })
}

// checkFeatures checks a hello's features: at most maxFeatures, each 1 to
// 64 bytes.
func checkFeatures(fs []string) error {
	if len(fs) > maxFeatures {
		return fmt.Errorf("hello: more than %d features", maxFeatures)
	}
	for _, f := range fs {
		if f == "" || len(f) > 64 {
			return errors.New("hello: a feature must be 1 to 64 bytes")
		}
	}
	return nil
}
