# tls-lib.sh -- a throwaway x509 PKI for the peer channel's mutual TLS,
# made with GnuTLS's certtool, laid out as libvirt lays out its own
# (CA/cacert.pem; libvirt/servercert.pem, libvirt/private/serverkey.pem,
# libvirt/clientcert.pem, libvirt/private/clientkey.pem), so that rasd is
# pointed at it with the same five peer_* keys as at /etc/pki.
#
#   tls_ca DIR [NAME]                 a CA in DIR/CA
#   tls_host DIR CADIR HOST [IP] [DAYS]
#	a host's server and client certificates, signed by CADIR's CA, in
#	DIR/libvirt; HOST is the CN and a DNS name, IP (default 127.0.0.1)
#	an IP address name; DAYS < 0 makes certificates that expired
#   tls_conf DIR CADIR                the peer_* lines for rasd.conf
# Sourced by tests that start rasd's talking to each other.

command -v certtool >/dev/null 2>&1 || TLS_MISSING="certtool (gnutls-bin) is not installed"

# A self-signed CA.
tls_ca() {
	local d=$1/CA name=${2:-rasd test CA}
	mkdir -p "$d"
	certtool --generate-privkey --key-type ecdsa --outfile "$d/cakey.pem" 2>/dev/null
	cat >"$d/ca.info" <<-EOF
	cn = $name
	ca
	cert_signing_key
	expiration_days = 30
	EOF
	certtool --generate-self-signed --load-privkey "$d/cakey.pem" \
	    --template "$d/ca.info" --outfile "$d/cacert.pem" 2>/dev/null
}

# One certificate of a host, signed by the CA in $1: purpose $2
# (tls_www_server or tls_www_client), key and certificate paths $3 $4.
tls_cert() {
	local ca=$1 purpose=$2 key=$3 crt=$4 host=$5 ip=$6 days=$7 dates
	if [ "$days" -lt 0 ]; then
		dates=$'activation_date = "2020-01-01 00:00:00 UTC"\nexpiration_date = "2020-02-01 00:00:00 UTC"'
	else
		dates="expiration_days = $days"
	fi
	certtool --generate-privkey --key-type ecdsa --outfile "$key" 2>/dev/null
	cat >"$crt.info" <<-EOF
	organization = rasd tests
	cn = $host
	dns_name = $host
	ip_address = $ip
	$purpose
	signing_key
	$dates
	EOF
	certtool --generate-certificate --load-privkey "$key" \
	    --load-ca-certificate "$ca/cacert.pem" --load-ca-privkey "$ca/cakey.pem" \
	    --template "$crt.info" --outfile "$crt" 2>/dev/null
	chmod 600 "$key"
}

# A host's server and client certificates, in libvirt's layout.
tls_host() {
	local d=$1/libvirt ca=$2/CA host=$3 ip=${4:-127.0.0.1} days=${5:-30}
	mkdir -p "$d/private"
	tls_cert "$ca" tls_www_server "$d/private/serverkey.pem" "$d/servercert.pem" "$host" "$ip" "$days"
	tls_cert "$ca" tls_www_client "$d/private/clientkey.pem" "$d/clientcert.pem" "$host" "$ip" "$days"
}

# The rasd.conf lines that use a host's certificates and a CA.
tls_conf() {
	printf 'peer_tls = on\npeer_ca = %s\npeer_cert = %s\npeer_key = %s\npeer_client_cert = %s\npeer_client_key = %s\n' \
	    "$2/CA/cacert.pem" "$1/libvirt/servercert.pem" "$1/libvirt/private/serverkey.pem" \
	    "$1/libvirt/clientcert.pem" "$1/libvirt/private/clientkey.pem"
}
