package transport

import "testing"

func TestWinHTTPLists(t *testing.T) {
	proxies := []struct{ list, scheme, want string }{
		{"proxy.corp:8080", "https", "http://proxy.corp:8080"},
		{"proxy.corp", "https", "http://proxy.corp:80"},
		{"http=web.corp:80;https=secure.corp:3128", "https", "http://secure.corp:3128"},
		{"http=web.corp:80;https=secure.corp:3128", "http", "http://web.corp:80"},
		{"ftp=ftp.corp:21", "https", ""},
		{"", "https", ""},
	}
	for _, tt := range proxies {
		got := ""
		if u := pickProxy(tt.list, tt.scheme); u != nil {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("pickProxy(%q, %s) = %q, want %q", tt.list, tt.scheme, got, tt.want)
		}
	}
	bypass := []struct {
		host, list string
		want       bool
	}{
		{"ferry", "<local>", true},
		{"127.0.0.1", "<local>", true},
		{"ferry.example.com", "<local>", false},
		{"ferry.example.com", "*.example.com;other", true},
		{"FERRY.example.com", "ferry.example.com", true},
		{"ferry.example.com", "*.example.org", false},
	}
	for _, tt := range bypass {
		if got := bypassed(tt.host, tt.list); got != tt.want {
			t.Errorf("bypassed(%q, %q) = %v, want %v", tt.host, tt.list, got, tt.want)
		}
	}
}
