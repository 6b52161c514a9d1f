package register

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/posd/posd/internal/receipt"
	"github.com/posd/posd/internal/store"
)

// journalSeq is the part of the receipt file the watermark needs: where it
// ends now. A journal without it has no watermark (every start checks the
// whole history).
type journalSeq interface{ LastSeq() int64 }

// watermarkBatch is how many audit rows one query of advanceWatermark reads.
const watermarkBatch = 2000

// watermark returns the stored watermark when it still holds: the file
// still has the post it ended with when the watermark was set. ok is false
// when there is none or it no longer holds (then the caller checks every
// paid payment and done refund).
func (r *Register) watermark(ctx context.Context) (store.Watermark, bool, error) {
	js, ok := r.journal.(journalSeq)
	if !ok {
		return store.Watermark{}, false, nil
	}
	w, ok, err := r.db.JournalWatermark(ctx)
	if err != nil || !ok {
		return store.Watermark{}, false, err
	}
	last := js.LastSeq()
	if last < w.JournalSeq {
		r.log.Warn("the receipt file ends before its watermark (a tail moved aside or an older file restored): checking every paid payment and refund",
			zap.Int64("lastSeq", last), zap.Int64("watermarkSeq", w.JournalSeq))
		return store.Watermark{}, false, nil
	}
	if w.JournalSeq > 0 {
		posts, err := r.journal.Posts(w.JournalSeq-1, 1)
		if err != nil || len(posts) != 1 || posts[0].Seq != w.JournalSeq || posts[0].Reference != w.JournalRef {
			r.log.Warn("the receipt file's post at the watermark is not the one confirmed: checking every paid payment and refund",
				zap.Int64("watermarkSeq", w.JournalSeq), zap.String("watermarkRef", w.JournalRef), zap.Error(err))
			return store.Watermark{}, false, nil
		}
	}
	return w, true, nil
}

// setWatermark stores that every paid payment and done refund named by an
// audit row up to auditID has its post in the file as it ends now.
func (r *Register) setWatermark(ctx context.Context, auditID int64) error {
	js, ok := r.journal.(journalSeq)
	if !ok {
		return nil
	}
	w := store.Watermark{AuditID: auditID, JournalSeq: js.LastSeq()}
	if w.JournalSeq > 0 {
		posts, err := r.journal.Posts(w.JournalSeq-1, 1)
		if err != nil || len(posts) != 1 {
			return fmt.Errorf("journal watermark: read post %d: %v", w.JournalSeq, err)
		}
		w.JournalRef = posts[0].Reference
	}
	return r.db.SetJournalWatermark(ctx, w)
}

// advanceWatermark checks the payments paid and refunds done after w, in
// audit order, against the file and moves the watermark past those found.
// With repair (at start, before Ready) a missing post is rebuilt from its
// row and appended (one that cannot be written now is retried in wg, and the
// watermark stops before it); without (while running) it stops at the first
// post not written yet: a refund's post follows its commit, so it may be on
// its way. It returns the number of posts confirmed.
func (r *Register) advanceWatermark(ctx context.Context, wg *sync.WaitGroup, w store.Watermark, repair bool) (int, error) {
	cur, n, appended := w.AuditID, 0, 0
	mark := int64(-1) // set: the watermark stops here (before a post not written)
	var failed []receipt.Post
scan:
	for {
		list, last, err := r.db.PostedAfter(ctx, cur, watermarkBatch)
		if err != nil {
			return n, fmt.Errorf("re-append posts: %w", err)
		}
		if last == cur {
			break
		}
		for _, ps := range list {
			if r.journal.Has(ps.Provider, ps.Ref) {
				n++
				continue
			}
			if !repair {
				mark = ps.AuditID - 1
				break scan
			}
			post, err := r.postOf(ctx, ps)
			if err == nil {
				err = r.appendPost(post)
			}
			if errors.Is(err, receipt.ErrInvalidPost) {
				// The file can never hold it: raised for manual handling
				// (as record does), and no reason to look again each start.
				r.log.Error("transaction post refused by the receipt file; raised for manual handling",
					zap.String("provider", ps.Provider), zap.String("reference", ps.Ref), zap.Error(err))
				continue
			}
			if err != nil {
				if post.Reference != "" {
					failed = append(failed, post)
				}
				r.log.Error("re-append transaction post", zap.String("provider", ps.Provider), zap.String("reference", ps.Ref), zap.Error(err))
				if mark < 0 {
					mark = ps.AuditID - 1
				}
				continue
			}
			n++
			appended++
		}
		cur = last
	}
	if mark >= 0 {
		cur = mark
	}
	if appended > 0 {
		r.log.Warn("re-appended missing transaction posts from the database", zap.Int("posts", appended))
	}
	if cur > w.AuditID {
		if err := r.setWatermark(ctx, cur); err != nil {
			return n, err
		}
	}
	if len(failed) > 0 {
		wg.Go(func() { r.appendLater(ctx, failed) })
		return n, fmt.Errorf("%d transaction post(s) not written yet; retrying", len(failed))
	}
	return n, nil
}

// postOf rebuilds the transaction post of a paid payment or done refund.
func (r *Register) postOf(ctx context.Context, ps store.Posted) (receipt.Post, error) {
	if ps.Refund {
		rf, err := r.db.RefundByReference(ctx, ps.Provider, ps.Ref)
		if err != nil {
			return receipt.Post{}, err
		}
		return r.refundPost(rf), nil
	}
	p, err := r.db.PaymentByReference(ctx, ps.Provider, ps.Ref)
	if err != nil {
		return receipt.Post{}, err
	}
	return r.paymentPost(p), nil
}

// confirmPosts moves the watermark over what was recorded since the last
// look, so that the next start has little to check however long this run
// lasts. It appends nothing: a missing post is the recording's to write.
func (r *Register) confirmPosts(ctx context.Context) {
	w, ok, err := r.db.JournalWatermark(ctx)
	if err != nil || !ok {
		return // none yet: the next start checks the whole history and sets one
	}
	if _, err := r.advanceWatermark(ctx, nil, w, false); err != nil && !errors.Is(err, context.Canceled) {
		r.log.Debug("advance journal watermark", zap.Error(err))
	}
}
