// sealed-secrets-keygen: makes one sealing key exactly as a Bitnami Sealed
// Secrets controller does (the module's own crypto.GeneratePrivateKeyAndCert
// with the controller's defaults: 4096 bits, 10 years, empty CN) and prints
// the Secret the controller would write (tls.key as PKCS#1 PEM, tls.crt,
// label sealedsecrets.bitnami.com/sealed-secrets-key=active) as JSON.
// secretloom's import test (issue #13) feeds it to the importer, so the
// certificate's quirks (encipherOnly without keyAgreement, empty names) are
// the real ones.
package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/bitnami/sealed-secrets/pkg/crypto"
)

func main() {
	name := flag.String("name", "sealed-secrets-keyabcde", "Secret name")
	namespace := flag.String("namespace", "kube-system", "Secret namespace")
	keySize := flag.Int("key-size", 4096, "RSA key size (the controller's default)")
	flag.Parse()

	key, cert, err := crypto.GeneratePrivateKeyAndCert(*keySize, 10*365*24*time.Hour, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	secret := map[string]any{
		"apiVersion": "v1",
		"kind":       "Secret",
		"type":       "kubernetes.io/tls",
		"metadata": map[string]any{
			"name":      *name,
			"namespace": *namespace,
			"labels":    map[string]string{"sealedsecrets.bitnami.com/sealed-secrets-key": "active"},
		},
		"data": map[string][]byte{
			"tls.key": pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
			"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		},
	}
	if err := json.NewEncoder(os.Stdout).Encode(secret); err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
}
