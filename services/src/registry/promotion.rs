//! Promotion requests: the only way a protected alias moves forward. A requester
//! (editor) asks; approvers other than the requester approve or reject with a
//! comment; with enough approvals the alias moves in the same transaction as the
//! last approval. Everything is audited, the requester is notified in-app, and
//! webhooks (`promotion.requested`, `model.promoted`, `promotion.rejected`) fire.

use super::aliases::move_alias;
use super::{get_version, get_version_by_id, model_row, policy_of, versions_from_rows};
use crate::auth::audit::{self, Outcome};
use crate::auth::{Action, Principal, authorize};
use crate::db::registry::{self as q, NewRequestRow, RequestRow};
use crate::notifications::{self, Notice};
use crate::{AppState, Error, Result, db, webhooks};
use domain::drift::{ColumnDrift, DriftConfig};
use domain::registry::{
    Decision, Inbox, ModelPolicy, ModelVersion, NewPromotion, NewReview, PromotionDetail, PromotionRequest,
    PromotionState, Review, check_alias,
};
use domain::{ModelVersionId, PromotionRequestId, RegisteredModelId, UserId, ValidationError};
use std::collections::HashMap;
use uuid::Uuid;

pub(crate) async fn requests_from_rows(
    st: &AppState,
    rows: Vec<RequestRow>,
) -> Result<Vec<PromotionRequest>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.promotion_request_id).collect();
    let mut reviews: HashMap<Uuid, Vec<Review>> = HashMap::new();
    for r in q::reviews_of(&st.db, &ids).await? {
        reviews.entry(r.promotion_request_id).or_default().push(Review {
            reviewer: r.reviewer,
            decision: if r.decision == "approve" { Decision::Approve } else { Decision::Reject },
            comment: r.comment,
            at: r.created_at,
        });
    }
    Ok(rows
        .into_iter()
        .map(|r| PromotionRequest {
            promotion_request_id: PromotionRequestId(r.promotion_request_id),
            registered_model_id: RegisteredModelId(r.registered_model_id),
            reviews: reviews.remove(&r.promotion_request_id).unwrap_or_default(),
            model_name: r.model_name,
            alias: r.alias,
            version: r.version,
            model_version_id: ModelVersionId(r.model_version_id),
            current_version: r.current_version,
            requested_by: r.requested_by_name,
            requested_by_id: r.requested_by.map(UserId),
            comment: r.comment,
            state: PromotionState::parse(&r.state).unwrap_or(PromotionState::Pending),
            required_approvals: u8::try_from(r.required_approvals).unwrap_or(1),
            created_at: r.created_at,
            decided_at: r.decided_at,
        })
        .collect())
}

async fn get_request(st: &AppState, id: PromotionRequestId) -> Result<PromotionRequest> {
    let rows = q::select_requests(&st.db, Some(id.0), None, None, None, 1).await?;
    requests_from_rows(st, rows).await?.pop().ok_or_else(|| Error::not_found("promotion request", id))
}

/// Why the policy refuses this candidate's gates, if it does.
fn gates_block(policy: &ModelPolicy, v: &ModelVersion) -> Option<String> {
    if !policy.require_gates || v.gates_passed != Some(false) {
        return None;
    }
    let failed: Vec<String> = v
        .gates
        .iter()
        .flatten()
        .filter(|g| !g.passed)
        .map(|g| format!("{} ({})", g.gate, g.detail))
        .collect();
    Some(format!(
        "{} v{} failed its validation gates, and this model requires them to pass: {}",
        v.model_name,
        v.version,
        failed.join("; ")
    ))
}

/// Tells people in-app and subscribers by webhook, in the deciding transaction.
async fn announce(
    conn: &mut sqlx::PgConnection,
    users: &[Uuid],
    notice: &Notice<'_>,
    event: &str,
    data: &serde_json::Value,
) -> Result<()> {
    notifications::notify(&mut *conn, users, notice).await?;
    webhooks::emit(conn, domain::DEFAULT_PROJECT_ID, event, data).await?;
    Ok(())
}

fn link(id: Uuid) -> String {
    format!("/approvals/{id}")
}

/// Asks for `alias` (protected) to point at a version.
pub async fn request(
    st: &AppState,
    p: &Principal,
    model_name: &str,
    new: NewPromotion,
) -> Result<PromotionRequest> {
    authorize(p, Action::Write)?;
    check_alias(&new.alias)?;
    let model = model_row(&st.db, model_name).await?;
    let policy = policy_of(&model);
    if !policy.is_protected(&new.alias) {
        return Err(ValidationError::new(
            "alias",
            format!(
                "'{}' is not a protected alias of {}: set it directly, no approval needed",
                new.alias, model.name
            ),
        )
        .into());
    }
    let v = get_version(st, p, model_name, new.version).await?;
    if let Some(why) = gates_block(&policy, &v) {
        return Err(Error::Conflict(why));
    }
    let current = q::aliases_of(&st.db, &[model.registered_model_id])
        .await?
        .into_iter()
        .find(|a| a.alias.eq_ignore_ascii_case(&new.alias));
    if current.as_ref().is_some_and(|a| a.model_version_id == v.model_version_id.0) {
        return Err(Error::Conflict(format!(
            "{}@{} already points at v{}",
            model.name, new.alias, v.version
        )));
    }
    let alias = current.as_ref().map_or(new.alias.clone(), |a| a.alias.clone());
    let mut tx = st.db.begin().await?;
    let row = NewRequestRow {
        model: model.registered_model_id,
        alias: &alias,
        version: v.model_version_id.0,
        current: current.as_ref().map(|a| a.model_version_id),
        requested_by: p.user_id.0,
        comment: new.comment.trim(),
        required_approvals: model.required_approvals,
    };
    let id = match q::insert_request(&mut tx, &row).await? {
        Some(id) => {
            let target = format!("{}@{alias}", model.name);
            audit::record(&mut *tx, p, "promotion.request", &target, Outcome::Ok, &format!("v{}", v.version))
                .await?;
            let title = format!("{} wants {} v{} in {alias}", p.username, model.name, v.version);
            let reviewers = notifications::approvers(&mut tx, Some(p.user_id.0)).await?;
            let notice =
                Notice { kind: "promotion.requested", title: &title, body: row.comment, link: &link(id) };
            announce(
                &mut tx,
                &reviewers,
                &notice,
                "promotion.requested",
                &serde_json::json!({ "request_id": id, "model": model.name, "alias": alias,
                                     "version": v.version, "requested_by": p.username }),
            )
            .await?;
            id
        }
        // The same candidate is already waiting: asking again is not a new request.
        None => q::pending_request_for(&mut tx, model.registered_model_id, &alias, v.model_version_id.0)
            .await?
            .ok_or_else(|| Error::Conflict("the promotion request changed concurrently; try again".into()))?,
    };
    tx.commit().await?;
    get_request(st, PromotionRequestId(id)).await
}

/// Approves or rejects a pending request. Refused to non-approvers, to the
/// requester, and to someone who already reviewed it.
pub async fn review(
    st: &AppState,
    p: &Principal,
    id: PromotionRequestId,
    new: NewReview,
) -> Result<PromotionRequest> {
    let action = match new.decision {
        Decision::Approve => "promotion.approve",
        Decision::Reject => "promotion.reject",
    };
    let target = format!("promotion {id}");
    if let Err(e) = authorize(p, Action::Approve) {
        audit::record(&st.db, p, action, &target, Outcome::Denied, "not an approver").await?;
        return Err(e);
    }
    let req = get_request(st, id).await?;
    if req.requested_by_id == Some(p.user_id) {
        audit::record(&st.db, p, action, &target, Outcome::Denied, "own request").await?;
        return Err(Error::Forbidden("you requested this promotion: another approver must decide it".into()));
    }
    if new.decision == Decision::Reject && new.comment.trim().is_empty() {
        return Err(
            ValidationError::new("comment", "say why you reject it, so the requester can act on it").into()
        );
    }
    let model = model_row(&st.db, &req.model_name).await?;
    let mut tx = st.db.begin().await?;
    q::lock_model(&mut tx, model.registered_model_id).await?;
    let state =
        q::lock_request(&mut tx, id.0).await?.ok_or_else(|| Error::not_found("promotion request", id))?;
    if state != "pending" {
        return Err(Error::Conflict(format!("this promotion request is already {state}")));
    }
    q::insert_review(&mut tx, id.0, p.user_id.0, new.decision.as_str(), new.comment.trim()).await.map_err(
        |e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                Error::Conflict("you have already reviewed this request".into())
            }
            e => e.into(),
        },
    )?;
    let subject = format!("{} v{} → {}", req.model_name, req.version, req.alias);
    let requester: Vec<Uuid> = req.requested_by_id.map(|u| u.0).into_iter().collect();
    match new.decision {
        Decision::Reject => {
            q::set_request_state(&mut tx, id.0, PromotionState::Rejected.as_str()).await?;
            audit::record(
                &mut *tx,
                p,
                action,
                &target,
                Outcome::Ok,
                &format!("{subject}: {}", new.comment.trim()),
            )
            .await?;
            let title = format!("{} rejected {subject}", p.username);
            let notice = Notice {
                kind: "promotion.rejected",
                title: &title,
                body: new.comment.trim(),
                link: &link(id.0),
            };
            announce(
                &mut tx,
                &requester,
                &notice,
                "promotion.rejected",
                &serde_json::json!({ "request_id": id.0, "model": req.model_name, "alias": req.alias,
                                     "version": req.version, "by": p.username, "comment": new.comment }),
            )
            .await?;
        }
        Decision::Approve => {
            let approvals = q::count_approvals(&mut tx, id.0).await?;
            let needed = i64::from(model.required_approvals.max(i16::from(req.required_approvals)));
            if approvals >= needed {
                // The policy may have changed since the request: check the gates again.
                let policy = policy_of(&model);
                let candidate = get_version_by_id(st, req.model_version_id).await?;
                if let Some(why) = gates_block(&policy, &candidate) {
                    return Err(Error::Conflict(why));
                }
                let from = move_alias(
                    &mut tx,
                    &model,
                    &req.alias,
                    req.model_version_id,
                    "promotion",
                    Some(id.0),
                    p.user_id,
                )
                .await?;
                q::set_request_state(&mut tx, id.0, PromotionState::Approved.as_str()).await?;
                let details = format!("{subject} (approval {approvals} of {needed}): {}", new.comment.trim());
                audit::record(&mut *tx, p, action, &target, Outcome::Ok, &details).await?;
                let title = format!("{} approved {subject}: it is live", p.username);
                let notice = Notice {
                    kind: "promotion.approved",
                    title: &title,
                    body: new.comment.trim(),
                    link: &link(id.0),
                };
                announce(
                    &mut tx,
                    &requester,
                    &notice,
                    "model.promoted",
                    &serde_json::json!({ "request_id": id.0, "model": req.model_name, "alias": req.alias,
                                         "version": req.version, "from_version_id": from, "by": p.username }),
                )
                .await?;
            } else {
                let details = format!("{subject} (approval {approvals} of {needed}): {}", new.comment.trim());
                audit::record(&mut *tx, p, action, &target, Outcome::Ok, &details).await?;
            }
        }
    }
    tx.commit().await?;
    get_request(st, id).await
}

/// Withdraws a pending request: its requester or an admin.
pub async fn cancel(st: &AppState, p: &Principal, id: PromotionRequestId) -> Result<PromotionRequest> {
    authorize(p, Action::Write)?;
    let req = get_request(st, id).await?;
    if req.requested_by_id != Some(p.user_id) && authorize(p, Action::ManageUsers).is_err() {
        return Err(Error::Forbidden(
            "only the requester or an admin can withdraw a promotion request".into(),
        ));
    }
    let mut tx = st.db.begin().await?;
    if q::set_request_state(&mut tx, id.0, PromotionState::Cancelled.as_str()).await? == 0 {
        return Err(Error::Conflict(format!("this promotion request is already {}", req.state.as_str())));
    }
    audit::record(&mut *tx, p, "promotion.cancel", &format!("promotion {id}"), Outcome::Ok, "").await?;
    tx.commit().await?;
    get_request(st, id).await
}

/// Requests, newest first: all, by state, or (`for_me`) the pending ones the caller
/// may review.
pub async fn list(
    st: &AppState,
    p: &Principal,
    state: Option<PromotionState>,
    for_me: bool,
    limit: i64,
) -> Result<Vec<PromotionRequest>> {
    authorize(p, Action::Read)?;
    let (state, reviewer) = if for_me {
        if authorize(p, Action::Approve).is_err() {
            return Ok(Vec::new());
        }
        (Some(PromotionState::Pending), Some(p.user_id.0))
    } else {
        (state, None)
    };
    let rows = q::select_requests(
        &st.db,
        None,
        None,
        state.map(PromotionState::as_str),
        reviewer,
        limit.clamp(1, 500),
    )
    .await?;
    requests_from_rows(st, rows).await
}

/// The navigation bar's counts.
pub async fn inbox(st: &AppState, p: &Principal) -> Result<Inbox> {
    authorize(p, Action::Read)?;
    let pending_reviews = if authorize(p, Action::Approve).is_ok() {
        q::count_reviewable(&st.db, p.user_id.0).await?
    } else {
        0
    };
    let unread_notifications = db::notifications::unread(&st.db, p.user_id.0).await?;
    Ok(Inbox { pending_reviews, unread_notifications })
}

/// Everything an approver needs to decide: the candidate and what the alias points
/// at now, side by side, and the drift between their training data.
pub async fn detail(st: &AppState, p: &Principal, id: PromotionRequestId) -> Result<PromotionDetail> {
    authorize(p, Action::Read)?;
    let request = get_request(st, id).await?;
    let model = model_row(&st.db, &request.model_name).await?;
    let candidate = get_version_by_id(st, request.model_version_id).await?;
    let now = q::aliases_of(&st.db, &[model.registered_model_id])
        .await?
        .into_iter()
        .find(|a| a.alias.eq_ignore_ascii_case(&request.alias));
    // Decided requests compare with what the alias pointed at when they were made.
    let current_id = match (&request.state, now) {
        (PromotionState::Pending, Some(a)) => Some(a.model_version_id),
        (PromotionState::Pending, None) => None,
        _ => q::select_requests(&st.db, Some(id.0), None, None, None, 1)
            .await?
            .pop()
            .and_then(|r| r.current_version_id),
    };
    let current = match current_id {
        Some(cid) => {
            versions_from_rows(st, q::select_versions(&st.db, None, None, Some(cid), 1).await?).await?.pop()
        }
        None => None,
    };
    let (training_drift, training_drift_note) = match &current {
        Some(cur) => training_drift(st, cur, &candidate).await?,
        None => (
            Vec::new(),
            Some(format!("nothing is in {} yet: there is no version to compare with", request.alias)),
        ),
    };
    let policy = policy_of(&model);
    let can_review = request.state == PromotionState::Pending
        && authorize(p, Action::Approve).is_ok()
        && request.requested_by_id != Some(p.user_id)
        && !request.reviews.iter().any(|r| r.reviewer == p.username);
    Ok(PromotionDetail {
        gates_block: gates_block(&policy, &candidate),
        request,
        candidate,
        current,
        training_drift,
        training_drift_note,
        can_review,
    })
}

/// Drift of the candidate's training data against the current version's (the
/// current one is the reference), on the blocking pool.
async fn training_drift(
    st: &AppState,
    current: &ModelVersion,
    candidate: &ModelVersion,
) -> Result<(Vec<ColumnDrift>, Option<String>)> {
    let (Some(base), Some(cand)) = (current.dataset_version_id, candidate.dataset_version_id) else {
        return Ok((Vec::new(), Some("one of the versions has no recorded training dataset".into())));
    };
    if base == cand {
        return Ok((Vec::new(), Some("both versions were trained on the same dataset version".into())));
    }
    let base_loc = db::training::version_location(&st.db, base).await?;
    let cand_loc = db::training::version_location(&st.db, cand).await?;
    let (Some(base_loc), Some(cand_loc)) = (base_loc, cand_loc) else {
        return Ok((Vec::new(), Some("a training dataset version was deleted".into())));
    };
    let base_bytes = st.store.get(&base_loc.storage_key).await?;
    let cand_bytes = st.store.get(&cand_loc.storage_key).await?;
    let drift = tokio::task::spawn_blocking(move || -> Result<Vec<ColumnDrift>> {
        let base = crate::datasets::read::whole(base_bytes)?;
        let cand = crate::datasets::read::whole(cand_bytes)?;
        let reference = ml::drift::FrameReference::new(&base, &ml::drift::DriftOptions::default())
            .map_err(|e| Error::Other(anyhow::anyhow!("drift reference: {e}")))?;
        Ok(ml::drift::drift_frame(&reference, &cand, &DriftConfig::default()))
    })
    .await
    .map_err(|e| Error::Other(anyhow::anyhow!("drift task failed: {e}")))??;
    Ok((drift, None))
}
