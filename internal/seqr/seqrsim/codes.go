package seqrsim

import "strconv"

// Result codes the emulator answers (spec 4.1). Kept apart from package seqr
// on purpose: the client and the emulator each read the spec on their own.
const (
	rcSuccess             = 0
	rcReportNotReady      = 2
	rcRejectedAmount      = 11
	rcAuthFailed          = 20
	rcAccessDenied        = 21
	rcInvalidERSReference = 23
	rcInvalidPrincipalID  = 29
	rcInvalidPrincipalSt  = 33
	rcPrincipalNotFound   = 37
	rcPaymentInProgress   = 48
	rcInvalidInvoiceData  = 49
	rcCannotCancelPaid    = 50
	rcCancelInProgress    = 51
	rcInvalidSeqrID       = 53
	rcInvalidInvoiceRef   = 54
	rcInvalidNotifyURL    = 64
	rcSystemError         = 90
	rcUnsupported         = 91
	rcAlreadyCanceled     = 95
	rcNotReserved         = 96
	rcRefundExceeds       = 98
)

// resultDescription is ERSWSResultCodes.getResultDescription: the constant
// name, except 98 which is prose; unknown codes as the real class renders them.
func resultDescription(code int) string {
	switch code {
	case 0:
		return "SUCCESS"
	case 1:
		return "PENDING_APPROVAL"
	case 2:
		return "REPORT_NOT_READY"
	case 10:
		return "REJECTED_BUSINESS_LOGIC"
	case 11:
		return "REJECTED_AMOUNT"
	case 12:
		return "REJECTED_PAYMENT"
	case 13:
		return "REJECTED_TOPUP"
	case 20:
		return "AUTHENTICATION_FAILED"
	case 21:
		return "ACCESS_DENIED"
	case 22:
		return "INVALID_NEW_PASSWORD"
	case 23:
		return "INVALID_ERS_REFERENCE"
	case 29:
		return "INVALID_INITIATOR_PRINCIPAL_ID"
	case 30:
		return "INVALID_RECEIVER_PRINCIPAL_ID"
	case 31:
		return "INVALID_SENDER_PRINCIPAL_ID"
	case 32:
		return "INVALID_TOPUP_PRINCIPAL_ID"
	case 33:
		return "INVALID_INITIATOR_PRINCIPAL_STATE"
	case 34:
		return "INVALID_RECEIVER_PRINCIPAL_STATE"
	case 35:
		return "INVALID_SENDER_PRINCIPAL_STATE"
	case 36:
		return "INVALID_TOPUP_PRINCIPAL_STATE"
	case 37:
		return "INITIATOR_PRINCIPAL_NOT_FOUND"
	case 38:
		return "RECEIVER_PRINCIPAL_NOT_FOUND"
	case 39:
		return "SENDER_PRINCIPAL_NOT_FOUND"
	case 40:
		return "TOPUP_PRINCIPAL_NOT_FOUND"
	case 41:
		return "INVALID_PRODUCT"
	case 42:
		return "INVALID_RECEIVER_ACCOUNT_TYPE"
	case 43:
		return "INVALID_SENDER_ACCOUNT_TYPE"
	case 44:
		return "INVALID_TOPUP_ACCOUNT_TYPE"
	case 45:
		return "RECEIVER_ACCOUNT_NOT_FOUND"
	case 46:
		return "SENDER_ACCOUNT_NOT_FOUND"
	case 47:
		return "TOPUP_ACCOUNT_NOT_FOUND"
	case 48:
		return "PAYMENT_IN_PROGRESS"
	case 49:
		return "INVALID_INVOICE_DATA"
	case 50:
		return "CANNOT_CANCEL_PAID_INVOICE"
	case 51:
		return "CANNOT_CANCEL_INVOICE_IN_PROGRESS"
	case 52:
		return "INVALID_CUSTOMER"
	case 53:
		return "INVALID_SEQR_ID"
	case 54:
		return "INVALID_INVOICE_REFERENCE"
	case 55:
		return "PAYMENT_ALREADY_CANCELLED"
	case 56:
		return "REGISTRATION_NOT_POSSIBLE"
	case 57:
		return "REGISTRATION_PRINCIPAL_ALREADY_EXISTS"
	case 58:
		return "PAYMENT_EXPIRED"
	case 60:
		return "AUTHORIZATION_EXPIRED"
	case 61:
		return "AUTHORIZATION_CANCELLED"
	case 62:
		return "AUTHORIZATION_IN_PROGRESS"
	case 63:
		return "INVALID_AUTHORIZATION_REFERENCE"
	case 64:
		return "INVALID_NOTIFICATION_URL"
	case 90:
		return "SYSTEM_ERROR"
	case 91:
		return "UNSUPPORTED_OPERATION"
	case 92:
		return "LICENSE_REJECTION"
	case 93:
		return "SYSTEM_BUSY"
	case 94:
		return "SERVICE_UNAVAILABLE"
	case 95:
		return "INVOICE_ALREADY_CANCELED"
	case 96:
		return "INVOICE_STATE_NOT_RESERVED"
	case 97:
		return "RESELLER_NOT_ALLOWED_TO_DO_REFUND"
	case 98:
		return "Sum of refunds can not be more than original transaction"
	case 99:
		return "RECEIVER_ACCOUNT_DOES_NOT_ALLOW_REFUNDS"
	}
	return "UNKNOWN ERSWSResultCode = " + strconv.Itoa(code)
}
