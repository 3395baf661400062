# openssl: digests, ciphers with fixed keys, keys and certificates.
printf 'veil sandbox\n' > msg
openssl dgst -sha256 msg | awk '{print $2}'; openssl dgst -sha512 -binary msg | openssl base64 -A | cut -c1-20; echo
openssl enc -aes-256-cbc -K 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f -iv 0f0e0d0c0b0a09080706050403020100 -in msg -out msg.enc
xxd -p msg.enc 2>/dev/null || od -An -tx1 msg.enc | tr -d ' \n'; echo
openssl enc -d -aes-256-cbc -K 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f -iv 0f0e0d0c0b0a09080706050403020100 -in msg.enc
openssl genpkey -algorithm ed25519 -out key.pem 2>/dev/null; openssl pkey -in key.pem -noout -text | head -1
openssl genrsa -out rsa.pem 2048 2>/dev/null; openssl rsa -in rsa.pem -check -noout
openssl req -x509 -new -key rsa.pem -subj /CN=veil.test -days 1 -out cert.pem 2>/dev/null
openssl x509 -in cert.pem -noout -subject; openssl verify -CAfile cert.pem cert.pem
openssl dgst -sha256 -sign rsa.pem -out sig msg; openssl dgst -sha256 -verify <(openssl rsa -in rsa.pem -pubout 2>/dev/null) -signature sig msg
openssl rand -hex 16 | tr -d '\n' | wc -c; openssl version | cut -d' ' -f1
