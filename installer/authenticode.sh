# Sourced by build.sh and release.sh: Authenticode signing of the agent's
# Windows files. authenticode_setup OUT picks the certificate: SIGN_CERT
# and SIGN_KEY (PEM) when given, else a test certificate made now (kept
# in OUT/signing/); authenticode_sign IN OUT signs a file.
authenticode_setup() { # OUT
	sign_cert=${SIGN_CERT:-}
	sign_key=${SIGN_KEY:-}
	if [ -z "$sign_cert" ]; then
		install -d -m 0700 "$1/signing"
		sign_cert="$1/signing/test-cert.pem"
		sign_key="$1/signing/test-key.pem"
		openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$sign_key" -out "$sign_cert" \
			-subj "/CN=Ferry test code signing" -addext "extendedKeyUsage=codeSigning" 2>/dev/null
	fi
}

authenticode_sign() { # IN OUT
	osslsigncode sign -certs "$sign_cert" -key "$sign_key" -h sha256 -n "Ferry connector agent" \
		-i https://github.com/ferry-sync/ferry -in "$1" -out "$2" >/dev/null
}
