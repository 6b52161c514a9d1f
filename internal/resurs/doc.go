// Package resurs is posd's Resurs Bank provider: three clients and the
// adapter that puts them behind the payment contract.
//
//   - POS: Checkout POS REST (spec A): a checkout session per order
//     reference, shown to the cashier as an iframe, and the booked payment
//     read back by that reference.
//   - AfterShop: the After Shop SOAP service (spec B) on internal/soap:
//     finalize, annul, credit, additional debit, metadata, payment reads and
//     searches, and the payment's PDF documents.
//   - MAPI: the Merchant API (spec C): an OAuth2 client-credentials token
//     cached until shortly before it expires, and the payment widget's
//     backend calls.
//   - Adapter: payment.Provider for the methods "resurs" (Checkout POS at
//     the till) and "resurs_later" ("Betala sen", followed for hours or
//     days), and payment.Reconciler through findPayments.
//
// Money is exact: Resurs writes amounts with 5 to 20 decimals, or bare
// integers, and keeps unrounded values (300.0144), so amounts are read into
// Decimal, never into a float, and rounded to öre only on purpose.
//
// Resurs has no idempotency anywhere (spec F). Every client tells an error
// that certainly sent nothing (ErrNotSent) from one after which the request
// may have arrived; the adapter reads the payment back before it repeats a
// money call, and tags its credits so that a credit whose reply was lost is
// recognised instead of being made twice.
//
// Secrets (the web-service password, the client secret, the access token)
// travel only in headers and bodies and are kept out of errors and logs;
// response bodies, which carry customers' personal data, are logged only
// when a call fails.
package resurs
